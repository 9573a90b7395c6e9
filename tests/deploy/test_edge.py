"""compose.yaml's topology without Docker: the same processes, with the same commands,
settings, secrets and health checks, on loopback, behind a real nginx running the repository's
edge config (deploy/nginx/templates/default.conf.template, rendered as the nginx image does).

Read from compose.yaml and translated: `host:port` of a service becomes 127.0.0.1 and a free
port, a volume becomes a folder of the test's, `${VAR:-default}` its default. Substituted:
PostgreSQL and Redis are the machine's (a throwaway database, a key prefix of the test's own;
tests/services.py), and Prometheus, Alertmanager, Grafana and Jaeger do not run (their configs
are checked in test_prometheus_*, test_alertmanager, test_compose; tracing is off).

Then, through nginx: /api/ reaches the api, short links the redirect replicas (both of them),
/internal/ and /metrics nothing; clicks are counted once per click and per visitor (the client
address nginx passes in X-Real-IP); a link change reaches both replicas; a replica can stop
without a failed redirect; deploy/ci/smoke.py passes; and a real Prometheus, relabelling as on
Kubernetes, serves the queries the autoscalers' metrics are made of.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.deploy.edge_stack import (
    Stack,
    create_link,
    edge_client,
    nginx_test,
    redirect_replicas,
    redirects_served,
    wait_until,
)
from tests.deploy.programs import (
    CI_SCRIPTS,
    output,
)
from tests.helpers import BROWSER_UA

pytestmark = pytest.mark.e2e


# --- the edge config ---------------------------------------------------------------------------


def test_nginx_accepts_the_rendered_edge_config(stack: Stack) -> None:
    done = nginx_test(stack.tmp / "nginx" / "nginx.conf")
    assert done.returncode == 0, output(done)
    assert "syntax is ok" in done.stderr


def test_nginx_refuses_a_broken_edge_config(tmp_path: Path) -> None:
    """The check bites: an upstream without a server."""
    broken = tmp_path / "nginx.conf"
    broken.write_text(
        f"pid {tmp_path}/nginx.pid;\nevents {{}}\nhttp {{ upstream u {{}} "
        "server { listen 127.0.0.1:1; location / { proxy_pass http://u; } } }\n"
    )
    done = nginx_test(broken)
    assert done.returncode != 0
    assert "no servers are inside upstream" in done.stderr


# --- routing -----------------------------------------------------------------------------------


def test_api_paths_reach_the_api(stack: Stack) -> None:
    with edge_client(stack) as client:
        unauthenticated = client.get("/api/v1/links")
        spec = client.get("/openapi.json")
        docs = client.get("/docs")
        dashboard = client.get("/app/links")
        root = client.get("/", headers={"accept": "text/html"})
    assert unauthenticated.status_code == 401, unauthenticated.text
    assert dashboard.status_code == 303  # the dashboard asks to sign in first
    assert dashboard.headers["location"].startswith("/app/sign-in")
    assert root.status_code == 302  # a browser on the short domain's root: the dashboard
    assert root.headers["location"] == "/app/"
    assert unauthenticated.headers["content-type"].startswith("application/problem+json")
    assert spec.status_code == 200
    assert spec.json()["openapi"].startswith("3.")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()


def test_internal_paths_and_metrics_stop_at_the_edge(stack: Stack) -> None:
    with edge_client(stack) as client:
        paths = ["/internal/links/abc", "/internal/analytics/clicks", "/metrics"]
        for path in [*paths, "/%69nternal/links/abc"]:
            response = client.get(path)
            assert response.status_code == 404, path
            assert response.headers["server"] == "nginx", f"{path} left the edge"
    # The same paths answer behind it: it is the edge that stops them.
    assert httpx.get(f"{stack.url('api')}/internal/links/abc", timeout=5).status_code == 403
    replica = redirect_replicas()[0]
    assert httpx.get(f"{stack.url(replica)}/metrics", timeout=5).status_code == 200


def test_health_goes_to_the_redirect(stack: Stack) -> None:
    with edge_client(stack) as client:
        assert client.get("/healthz").status_code == 200
        ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ok"


def test_links_redirect_through_both_replicas(stack: Stack, key: dict[str, str]) -> None:
    target = "https://example.com/edge/both"
    slug = create_link(stack, key, target)
    before = {replica: redirects_served(stack, replica) for replica in redirect_replicas()}
    with edge_client(stack) as client:
        for _ in range(20):
            response = client.get(f"/{slug}")
            assert response.status_code == 302
            assert response.headers["location"] == target
    served = {r: redirects_served(stack, r) - before[r] for r in redirect_replicas()}
    assert sum(served.values()) == 20, served
    assert all(count > 0 for count in served.values()), f"nginx used one replica only: {served}"


def test_slugs_that_start_like_api_paths_are_short_links(stack: Stack, key: dict[str, str]) -> None:
    """Only /api/..., /docs, /docs/..., /openapi.json and /app/... are the api's: /docsify is a
    link."""
    for slug in ("docsify", "apis", "openapi", "apps"):
        with edge_client(stack) as client:
            created = client.post(
                "/api/v1/links",
                json={"url": f"https://example.com/{slug}", "slug": slug},
                headers=key,
            )
            assert created.status_code == 201, created.text
            response = client.get(f"/{slug}")
        assert response.status_code == 302, slug
        assert response.headers["location"] == f"https://example.com/{slug}"


def test_clicks_count_once_per_click_and_per_visitor(stack: Stack, key: dict[str, str]) -> None:
    """Visitors are told apart by the address nginx passes in X-Real-IP (SURGE_CLIENT_IP_HEADER),
    never by one a client sends."""
    slug = create_link(stack, key, "https://example.com/edge/visitors")
    with edge_client(stack, "127.0.0.1") as first, edge_client(stack, "127.0.0.2") as second:
        statuses = [first.get(f"/{slug}").status_code for _ in range(3)]
        statuses += [second.get(f"/{slug}").status_code for _ in range(2)]
        statuses.append(first.get(f"/{slug}", headers={"x-real-ip": "203.0.113.9"}).status_code)
    assert statuses == [302] * 6

    def stats() -> dict[str, Any]:
        with edge_client(stack) as client:
            response = client.get(f"/api/v1/links/{slug}/stats", headers=key)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        assert body["total"] <= 6, f"counted {body['total']} of 6 clicks"
        return body

    wait_until(lambda: stats()["total"] == 6, "6 clicks in the stats")
    assert stats()["unique_visitors"] == 2


def test_a_link_change_reaches_both_replicas(stack: Stack, key: dict[str, str]) -> None:
    slug = create_link(stack, key, "https://example.com/edge/before")
    for replica in redirect_replicas():  # both have it cached
        response = httpx.get(f"{stack.url(replica)}/{slug}", headers={"user-agent": BROWSER_UA})
        assert response.headers["location"] == "https://example.com/edge/before"
    with edge_client(stack) as client:
        changed = client.patch(
            f"/api/v1/links/{slug}", json={"url": "https://example.com/edge/after"}, headers=key
        )
    assert changed.status_code == 200, changed.text

    def everywhere() -> bool:
        return all(
            httpx.get(f"{stack.url(r)}/{slug}", headers={"user-agent": BROWSER_UA}).headers.get(
                "location"
            )
            == "https://example.com/edge/after"
            for r in redirect_replicas()
        )

    wait_until(everywhere, "both replicas to redirect to the new target", timeout_s=10)


ANDROID = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/126.0 Mobile Safari/537.36"
)


def test_a_rules_change_reaches_both_replicas(stack: Stack, key: dict[str, str]) -> None:
    rule = {
        "url": "https://example.com/edge/android",
        "conditions": [{"type": "device", "value": "android"}],
    }
    with edge_client(stack) as client:
        made = client.post(
            "/api/v1/links",
            json={"url": "https://example.com/edge/any", "slug": "ruled", "rules": [rule]},
            headers=key,
        )
    assert made.status_code == 201, made.text

    def goes(replica: str) -> str:
        answer = httpx.get(f"{stack.url(replica)}/ruled", headers={"user-agent": ANDROID})
        return str(answer.headers.get("location"))

    assert [goes(r) for r in redirect_replicas()] == ["https://example.com/edge/android"] * 2
    with edge_client(stack) as client:
        ios = {**rule, "conditions": [{"type": "device", "value": "ios"}]}
        changed = client.patch("/api/v1/links/ruled", json={"rules": [ios]}, headers=key)
    assert changed.status_code == 200, changed.text
    wait_until(
        lambda: [goes(r) for r in redirect_replicas()] == ["https://example.com/edge/any"] * 2,
        "both replicas to drop the android rule",
        timeout_s=10,
    )


def test_a_password_opens_a_link_through_the_edge(stack: Stack, key: dict[str, str]) -> None:
    """The form posts back through nginx to whichever replica; the cookie opens the link on
    the other one too (signed with the key every replica shares)."""
    with edge_client(stack) as client:
        made = client.post(
            "/api/v1/links",
            json={"url": "https://example.com/edge/deck", "slug": "deck", "password": "q3-deck"},
            headers=key,
        )
        assert made.status_code == 201, made.text
        assert client.get("/deck").status_code == 401
        form = {"content-type": "application/x-www-form-urlencoded"}
        opened = client.post("/deck", content="password=q3-deck", headers=form)
    assert opened.status_code == 303, opened.text
    assert opened.headers["location"] == "https://example.com/edge/deck"
    cookie = {"cookie": opened.headers["set-cookie"].split(";", 1)[0]}
    for replica in redirect_replicas():
        answer = httpx.get(f"{stack.url(replica)}/deck", headers=cookie)
        assert answer.status_code == 302, replica


GO = "go.example.com"


def test_two_hosts_through_the_edge_and_a_move_reaches_both_replicas(
    stack: Stack, key: dict[str, str]
) -> None:
    """The edge passes the request's Host: the same slug on two domains goes to two targets,
    and a link moved to the other domain moves on both replicas."""
    added = subprocess.run(
        [sys.executable, "-m", "surge.cli", "domains", "add", GO],
        env=stack.environment("api"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert added.returncode == 0, output(added)
    with edge_client(stack) as client:
        for body in (
            {"url": "https://example.com/edge/home", "slug": "twin"},
            {"url": "https://example.org/edge/away", "slug": "twin", "domain": GO},
            {"url": "https://example.com/edge/mover", "slug": "mover"},
        ):
            made = client.post("/api/v1/links", json=body, headers=key)
            assert made.status_code == 201, made.text
        assert client.get("/twin").headers["location"] == "https://example.com/edge/home"
        away = client.get("/twin", headers={"host": GO})
        assert away.headers["location"] == "https://example.org/edge/away"

    def on(replica: str, host: str | None = None) -> int:
        headers = {"user-agent": BROWSER_UA} | ({"host": host} if host else {})
        return httpx.get(f"{stack.url(replica)}/mover", headers=headers).status_code

    # Both replicas have it cached where it is, and know it is not on the other domain.
    assert [(on(r), on(r, GO)) for r in redirect_replicas()] == [(302, 404)] * 2
    with edge_client(stack) as client:
        moved = client.patch("/api/v1/links/mover", json={"domain": GO}, headers=key)
    assert moved.status_code == 200, moved.text
    wait_until(
        lambda: [(on(r), on(r, GO)) for r in redirect_replicas()] == [(404, 302)] * 2,
        "both replicas to serve the link on its new domain only",
        timeout_s=10,
    )


def test_the_smoke_test_passes_against_the_edge(stack: Stack, key: dict[str, str]) -> None:
    env = {**os.environ, "SURGE_SMOKE_KEY": key["Authorization"].removeprefix("Bearer ")}
    done = subprocess.run(
        [sys.executable, str(CI_SCRIPTS / "smoke.py"), stack.edge],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, output(done)
    assert done.stdout.strip().endswith("smoke test passed")


def test_the_smoke_test_fails_with_a_bad_key(stack: Stack) -> None:
    env = {**os.environ, "SURGE_SMOKE_KEY": "sk_not-a-key"}
    done = subprocess.run(
        [sys.executable, str(CI_SCRIPTS / "smoke.py"), stack.edge],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, output(done)
    assert "create a link" in done.stderr
    assert "401" in done.stderr


def test_redirects_go_on_while_a_replica_stops(stack: Stack, key: dict[str, str]) -> None:
    """One replica stopped (SIGTERM, as a rolling update does): every redirect through nginx
    still succeeds, and the replica's clicks were flushed before it exited."""
    target = "https://example.com/edge/rolling"
    slug = create_link(stack, key, target)
    stopping = redirect_replicas()[-1]
    with edge_client(stack) as client:
        before = [client.get(f"/{slug}").status_code for _ in range(10)]
        assert stack.processes[stopping].stop() in (0, -signal.SIGTERM)
        after = [client.get(f"/{slug}").status_code for _ in range(10)]
    assert before + after == [302] * 20
    stack.start(stopping)  # back, for the tests after this one

    def total() -> int:
        with edge_client(stack) as client:
            response = client.get(f"/api/v1/links/{slug}/stats", headers=key)
        count: int = response.json()["total"]
        assert count <= 20
        return count

    wait_until(lambda: total() == 20, "all 20 clicks counted")
