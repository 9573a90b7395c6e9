"""Smoke test of a deployed Surge, through its public address, as a user would use it.

    SURGE_SMOKE_KEY=<an API key> python deploy/ci/smoke.py https://staging.sho.rt.example

Checks, each with a deadline: the edge answers /healthz; a link created through the API
redirects to its target; its click reaches the stats; once deleted it stops redirecting.
Exits 0 when all pass, 1 with the first failure on one line (the pipeline then rolls back).
The link it creates is deleted on the way out. tests/deploy/test_edge.py runs it against
nginx in front of real Surge processes.
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from collections.abc import Callable

import httpx

BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0 surge-smoke"
TARGET = "https://example.com/surge-smoke"


class SmokeFailed(Exception):
    pass


def wait_until(check: Callable[[], bool], what: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise SmokeFailed(f"timed out after {timeout_s:.0f}s waiting for {what}")
        time.sleep(0.2)


def expect(response: httpx.Response, status: int, what: str) -> httpx.Response:
    if response.status_code != status:
        raise SmokeFailed(
            f"{what}: {response.request.method} {response.request.url} answered "
            f"{response.status_code}, expected {status}: {response.text[:200]}"
        )
    return response


def smoke(base_url: str, key: str, timeout_s: float) -> list[str]:
    """Run the checks; what passed, a line each."""
    passed = []
    auth = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=base_url, headers={"user-agent": BROWSER}, timeout=10) as client:
        expect(client.get("/healthz"), 200, "health")
        passed.append("GET /healthz: 200")

        target = f"{TARGET}/{uuid.uuid4().hex[:12]}"
        created = expect(
            client.post("/api/v1/links", json={"url": target, "tags": ["smoke"]}, headers=auth),
            201,
            "create a link",
        ).json()
        slug = created["slug"]
        passed.append(f"POST /api/v1/links: 201 /{slug}")
        try:
            redirect = client.get(f"/{slug}")
            expect(redirect, 302, "follow the link")
            if redirect.headers.get("location") != target:
                raise SmokeFailed(f"/{slug} redirects to {redirect.headers.get('location')!r}")
            passed.append(f"GET /{slug}: 302 to the target")

            def counted() -> bool:
                stats = client.get(f"/api/v1/links/{slug}/stats", headers=auth)
                return stats.status_code == 200 and stats.json()["total"] >= 1

            wait_until(counted, "the click in the stats", timeout_s)
            passed.append("the click is in the stats")
        finally:
            expect(client.delete(f"/api/v1/links/{slug}", headers=auth), 204, "delete the link")
        passed.append(f"DELETE /api/v1/links/{slug}: 204")

        wait_until(
            lambda: client.get(f"/{slug}").status_code in (404, 410),
            f"/{slug} to stop redirecting once deleted",
            timeout_s,
        )
        passed.append(f"GET /{slug}: gone")
    return passed


def main(argv: list[str]) -> int:
    key = os.environ.get("SURGE_SMOKE_KEY", "")
    if len(argv) != 2 or not key:
        print(f"usage: SURGE_SMOKE_KEY=KEY {argv[0]} BASE_URL", file=sys.stderr)
        return 2
    timeout_s = float(os.environ.get("SURGE_SMOKE_TIMEOUT_S", "60"))
    try:
        for line in smoke(argv[1].rstrip("/"), key, timeout_s):
            print(f"ok: {line}")
    except (SmokeFailed, httpx.HTTPError) as exc:
        print(f"smoke test failed: {exc}", file=sys.stderr)
        return 1
    print("smoke test passed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
