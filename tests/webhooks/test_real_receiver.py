"""A real receiver process and a real `surge serve`: the receiver is killed -9 and started again
mid-stream, answers 500s, then hangs (timeouts); Surge itself is killed -9 while a delivery is
in flight and started again. Every event arrives at least once, in order, each signed right:
none is lost. Bounded: 40 links, 8 clicks, well under 30 s."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.processes import (
    Server,
    create_key,
    free_port,
    kill_group,
    serve,
    surge_cli,
    surge_env,
)
from tests.helpers import BROWSER_UA
from tests.webhooks.conftest import signature_ok
from tests.webhooks.receiver import received

RECEIVER = Path(__file__).with_name("receiver.py")
FAST_ENV = {
    "SURGE_WEBHOOK_ALLOWED_HOSTS": "127.0.0.1",
    "SURGE_WEBHOOK_POLL_S": "0.05",
    "SURGE_WEBHOOK_BACKOFF_BASE_S": "0.05",
    "SURGE_WEBHOOK_BACKOFF_CAP_S": "0.3",
    "SURGE_WEBHOOK_TIMEOUT_S": "1.0",
    "SURGE_WEBHOOK_LEASE_S": "2.0",
    "SURGE_WEBHOOK_CLICK_BATCH_SECONDS": "0.2",
}


def until(check: Callable[[], bool], what: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(0.05)


class ReceiverProcess:
    def __init__(self, tmp_path: Path) -> None:
        self.port = free_port()
        self.log = tmp_path / "received.jsonl"
        self.mode = tmp_path / "mode"
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(RECEIVER), str(self.port), str(self.log), str(self.mode)],
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        assert self.process.stdout is not None
        with self.process.stdout:  # it says one line, once it listens
            assert self.process.stdout.readline().startswith("listening")

    def kill(self) -> None:
        if self.process is not None:
            kill_group(self.process)  # SIGKILL

    def accepted(self) -> list[dict[str, Any]]:
        return [r for r in received(self.log) if r["status"] == 200]


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[ReceiverProcess]:
    process = ReceiverProcess(tmp_path)
    process.start()
    try:
        yield process
    finally:
        process.kill()


@pytest.mark.e2e
def test_no_event_is_lost_across_receiver_and_surge_crashes(
    tmp_path: Path, receiver: ReceiverProcess
) -> None:
    port = free_port()
    env = surge_env(tmp_path, SURGE_PUBLIC_URL=f"http://127.0.0.1:{port}", **FAST_ENV)
    assert surge_cli(env, "migrate").returncode == 0
    key = create_key(env)
    api = f"http://127.0.0.1:{port}/api/v1"
    made_slugs: list[str] = []

    with ExitStack() as stack:
        server: Server = stack.enter_context(serve(tmp_path, "all", port, env))
        hook = httpx.post(
            f"{api}/webhooks",
            json={
                "url": f"http://127.0.0.1:{receiver.port}/hook",
                "events": ["link.created", "link.clicked"],
            },
            headers=key,
            timeout=10,
        )
        assert hook.status_code == 201, hook.text
        secret = hook.json()["secret"]

        def make(count: int) -> None:
            for _ in range(count):
                slug = f"l{len(made_slugs):03d}"
                link = {"url": "https://example.com/", "slug": slug}
                assert (
                    httpx.post(f"{api}/links", json=link, headers=key, timeout=10).status_code
                    == 201
                )
                made_slugs.append(slug)

        def delivered(count: int) -> Callable[[], bool]:
            return lambda: len(created(receiver.accepted())) >= count

        make(10)
        until(delivered(3), "the first deliveries")
        receiver.kill()  # mid-stream
        make(5)
        receiver.start()
        receiver.mode.write_text("fail")  # 500s
        make(5)
        until(lambda: any(r["status"] == 500 for r in received(receiver.log)), "a 500")
        receiver.mode.write_text("hang")  # timeouts
        make(5)
        for _ in range(8):  # clicks, ingested (counted) before the crash below
            httpx.get(f"{server.url}/l000", headers={"user-agent": BROWSER_UA}, timeout=10)
        until(lambda: clicks_counted(api, key) == 8, "the clicks to be counted")
        hung = hangs(receiver)
        until(lambda: hangs(receiver) > hung, "a delivery to hang")
        kill_group(server.process)  # kill -9 with that delivery in flight
        receiver.mode.write_text("ok")
        server = stack.enter_context(serve(tmp_path, "all", port, env))
        make(15)
        until(delivered(len(made_slugs)), "every link.created event", timeout_s=30)
        until(lambda: len(click_ids(receiver.accepted())) == 8, "every click")

    accepted = receiver.accepted()
    slugs = created(accepted)
    assert sorted(set(slugs)) == made_slugs  # every event at least once
    assert slugs == sorted(slugs)  # in order (a repeat only right after itself)
    assert all(signature_ok(secret, r) for r in accepted)
    statuses = {r["status"] for r in received(receiver.log)}
    assert statuses == {200, 500, 0}


def hangs(receiver: ReceiverProcess) -> int:
    return sum(r["status"] == 0 for r in received(receiver.log))


def created(requests: list[dict[str, Any]]) -> list[str]:
    bodies = [json.loads(r["body"]) for r in requests]
    return [b["data"]["link"]["slug"] for b in bodies if b["type"] == "link.created"]


def click_ids(requests: list[dict[str, Any]]) -> set[str]:
    bodies = [json.loads(r["body"]) for r in requests]
    return {c["id"] for b in bodies if b["type"] == "link.clicked" for c in b["data"]["clicks"]}


def clicks_counted(api: str, key: dict[str, str]) -> int:
    stats = httpx.get(f"{api}/links/l000/stats", headers=key, timeout=10)
    return int(stats.json()["total"]) if stats.status_code == 200 else -1
