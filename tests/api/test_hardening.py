"""Hardening of the public API: body size, security headers, 405 with the path's methods,
and where links may not point."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.conftest import Surge, running_surge
from tests.helpers import assert_problem, make_settings

LINKS = "/api/v1/links"


async def test_a_body_over_the_limit_is_413_before_it_is_read(
    surge: Surge, key: dict[str, str]
) -> None:
    limit = surge.settings.max_body_bytes
    padded = b'{"url": "https://example.com/", "tags": []' + b" " * limit + b"}"
    answer = await surge.client.post(
        LINKS, content=padded, headers={**key, "content-type": "application/json"}
    )
    assert_problem(answer, 413, "body-too-large")

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it arrives
        for _ in range(limit // 1024 + 2):
            yield b" " * 1024

    answer = await surge.client.post(
        LINKS, content=chunks(), headers={**key, "content-type": "application/json"}
    )
    assert_problem(answer, 413, "body-too-large")
    assert (await surge.client.get(LINKS, headers=key)).json()["items"] == []  # nothing made
    small = await surge.client.post(LINKS, json={"url": "https://example.com/"}, headers=key)
    assert small.status_code == 201


async def test_api_answers_carry_the_security_headers(surge: Surge, key: dict[str, str]) -> None:
    answer = await surge.client.get(LINKS, headers=key)
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["referrer-policy"] == "strict-origin-when-cross-origin"
    assert "content-security-policy" not in answer.headers  # JSON is not a document
    assert "strict-transport-security" not in answer.headers  # not on plain http
    docs = await surge.client.get("/docs")
    assert "frame-ancestors 'none'" in docs.headers["content-security-policy"]
    assert "https://cdn.jsdelivr.net" in docs.headers["content-security-policy"]


async def test_https_adds_hsts_and_pages_get_a_strict_policy(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, public_url="https://sho.rt")
    async with running_surge(settings) as surge:
        key = await surge.new_key()
        api = await surge.client.get(LINKS, headers=key)
        assert api.headers["strict-transport-security"] == "max-age=63072000"
        made = await surge.client.post(LINKS, json={"url": "https://example.com/"}, headers=key)
        redirect = await surge.client.get(f"/{made.json()['slug']}")
        assert redirect.status_code == 302
        assert redirect.headers["strict-transport-security"] == "max-age=63072000"
        # A redirect carries nothing else: no body to sniff, and the target's referrer is
        # the browser's business.
        assert "referrer-policy" not in redirect.headers
        page = await surge.client.get("/no-such-link", headers={"accept": "text/html"})
        assert page.status_code == 404
        assert page.headers["content-security-policy"].startswith("default-src 'none'")
        assert page.headers["x-content-type-options"] == "nosniff"
        assert page.headers["strict-transport-security"] == "max-age=63072000"


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        (f"{LINKS}/abc", "DELETE, GET, PATCH"),
        (LINKS, "GET, POST"),
        ("/api/v1/keys/7", "DELETE"),
    ],
)
async def test_405_allows_exactly_the_paths_methods(
    surge: Surge, key: dict[str, str], path: str, allowed: str
) -> None:
    answer = await surge.client.request("PUT", path, headers=key)
    assert_problem(answer, 405, "method-not-allowed")
    assert answer.headers["allow"] == allowed


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://localhost:8080/admin", "domain name"),
        ("http://app.localhost:8080/admin", "local host name"),
        ("http://printer.local/", "local host name"),
        ("http://metadata.google.internal/", "local host name"),
        ("https://evil.example/phish", "not allowed here"),
        ("https://login.evil.example/", "not allowed here"),
        ("https://sho.rt/abc", "short domain"),
        ("https://SHO.RT/abc", "short domain"),
        ("http://169.254.169.254/latest/meta-data/", "domain name"),
        ("http://10.0.0.5/", "domain name"),
        ("http://2130706433/", "domain name"),
        ("http://[::1]/", "domain name"),
        ("https://user:pass@example.com/", "user:password"),
    ],
)
async def test_links_may_not_point_at_private_local_or_blocked_places(
    tmp_path: Path, url: str, why: str
) -> None:
    settings = make_settings(tmp_path, blocked_hosts="evil.example")
    async with running_surge(settings) as surge:
        key = await surge.new_key()
        refused = await surge.client.post(LINKS, json={"url": url}, headers=key)
        problem = assert_problem(refused, 422, "validation-error")
        assert why in problem["detail"], problem
        assert (await surge.client.get(LINKS, headers=key)).json()["items"] == []
        fine = await surge.client.post(LINKS, json={"url": "https://bücher.example/ß"}, headers=key)
        assert fine.status_code == 201, fine.text
