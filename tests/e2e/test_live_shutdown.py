"""An open live panel (a server-sent event stream that never ends by itself) must not hold a
real server's graceful shutdown: on SIGTERM the stream ends and the process exits promptly,
on uvicorn and on granian."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.processes import free_port, serve, surge_cli, surge_env
from tests.helpers import DASHBOARD_PASSWORD, csrf_of

# Well under the servers' graceful shutdown timeout (cli.GRACEFUL_SHUTDOWN_S, 20 s), which is
# what an open stream would otherwise cost every deploy.
PROMPT_S = 8.0


@pytest.mark.e2e
@pytest.mark.parametrize("server_name", ["uvicorn", "granian"])
def test_an_open_live_stream_does_not_hold_the_shutdown(tmp_path: Path, server_name: str) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = surge_env(tmp_path, SURGE_PUBLIC_URL=base, SURGE_SERVER=server_name)
    made = surge_cli(
        env,
        "users",
        "create",
        "--email",
        "alice@example.com",
        "--password-stdin",
        input=DASHBOARD_PASSWORD,
    )
    assert made.returncode == 0, made.stderr
    with serve(tmp_path, "all", port, env) as server, httpx.Client(base_url=base) as client:
        form = {"email": "alice@example.com", "password": DASHBOARD_PASSWORD}
        form["csrf"] = csrf_of(client.get("/app/sign-in"))
        assert client.post("/app/sign-in", data=form).status_code == 303
        with client.stream("GET", "/app/live", timeout=30) as stream:
            assert stream.status_code == 200
            lines = stream.iter_lines()
            assert next(line for line in lines if line.startswith("event:")) == "event: ready"
            asked = time.monotonic()
            assert server.stop(timeout_s=PROMPT_S), server.output()
            took = time.monotonic() - asked
            assert list(lines) is not None  # the stream ended (the server closed it)
    assert took < PROMPT_S
