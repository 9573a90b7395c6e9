"""Rate limits: per key (shared by replicas through Redis), per client IP, failed
authentications per IP, the links-per-day quota; a 429 says when to come back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import running_surge
from tests.helpers import assert_problem, make_settings

LINKS = "/api/v1/links"


def from_ip(ip: str, headers: dict[str, str] | None = None) -> dict[str, str]:
    return {**(headers or {}), "x-test-client-ip": ip}  # the trusted proxy header in tests


def assert_limited(response: httpx.Response, limit: int) -> None:
    assert_problem(response, 429, "rate-limited")
    assert int(response.headers["retry-after"]) >= 1
    assert response.headers["ratelimit-limit"] == str(limit)
    assert response.headers["ratelimit-remaining"] == "0"


@pytest.mark.parametrize("backend", ["production"], indirect=True)
async def test_a_keys_budget_is_shared_by_replicas(tmp_path: Path, backend: dict[str, Any]) -> None:
    settings = make_settings(tmp_path, **backend, rate_limit_per_key="5/minute")
    async with running_surge(settings) as one, running_surge(settings) as two:
        key = await one.new_key()
        remaining = []
        for replica in (one, one, one, two, two):
            answer = await replica.client.get(LINKS, headers=key)
            assert answer.status_code == 200, answer.text
            assert answer.headers["ratelimit-limit"] == "5"
            remaining.append(int(answer.headers["ratelimit-remaining"]))
        assert remaining == [4, 3, 2, 1, 0]
        assert_limited(await one.client.get(LINKS, headers=key), 5)
        assert_limited(await two.client.get(LINKS, headers=key), 5)
        other = await two.new_key()  # another key has its own budget
        assert (await two.client.get(LINKS, headers=other)).status_code == 200


async def test_an_ip_is_limited_with_or_without_a_key(
    tmp_path: Path, backend: dict[str, Any]
) -> None:
    settings = make_settings(tmp_path, **backend, rate_limit_per_ip="3/minute")
    async with running_surge(settings) as surge:
        key = await surge.new_key()
        for _ in range(3):
            answer = await surge.client.get(LINKS, headers=from_ip("198.51.100.1", key))
            assert answer.status_code == 200
        assert_limited(await surge.client.get(LINKS, headers=from_ip("198.51.100.1", key)), 3)
        assert_limited(await surge.client.get(LINKS, headers=from_ip("198.51.100.1")), 3)
        ok = await surge.client.get(LINKS, headers=from_ip("198.51.100.2", key))
        assert ok.status_code == 200
        # Redirects are not API requests: the spent address still follows links.
        created = await surge.client.post(
            LINKS, json={"url": "https://example.com"}, headers=from_ip("198.51.100.3", key)
        )
        slug = created.json()["slug"]
        assert (
            await surge.client.get(f"/{slug}", headers=from_ip("198.51.100.1"))
        ).status_code == 302


async def test_failed_authentications_lock_out_the_address_not_the_key(
    tmp_path: Path, backend: dict[str, Any]
) -> None:
    settings = make_settings(tmp_path, **backend, rate_limit_auth_failures="3/minute")
    async with running_surge(settings) as surge:
        key = await surge.new_key()
        guess = from_ip("198.51.100.9", {"Authorization": "Bearer sk_guess"})
        for _ in range(3):
            assert_problem(await surge.client.get(LINKS, headers=guess), 401, "unauthorized")
        assert_limited(await surge.client.get(LINKS, headers=guess), 3)
        # From that address even a good key waits; from another it works.
        assert_limited(await surge.client.get(LINKS, headers=from_ip("198.51.100.9", key)), 3)
        elsewhere = await surge.client.get(LINKS, headers=from_ip("198.51.100.10", key))
        assert elsewhere.status_code == 200


async def test_the_links_per_day_quota(tmp_path: Path, backend: dict[str, Any]) -> None:
    settings = make_settings(tmp_path, **backend, links_per_key_per_day=2)
    async with running_surge(settings) as surge:
        key, other = await surge.new_key(), await surge.new_key()
        for _ in range(2):
            made = await surge.client.post(LINKS, json={"url": "https://e.com"}, headers=key)
            assert made.status_code == 201
        refused = await surge.client.post(LINKS, json={"url": "https://e.com"}, headers=key)
        assert_limited(refused, 2)
        assert "today" in refused.json()["detail"]
        listed = (await surge.client.get(LINKS, headers=key)).json()["items"]
        assert len(listed) == 2  # the refused one was not made
        made = await surge.client.post(LINKS, json={"url": "https://e.com"}, headers=other)
        assert made.status_code == 201


async def test_limits_off_when_empty(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, rate_limit_per_key="", rate_limit_per_ip="")
    async with running_surge(settings) as surge:
        key = await surge.new_key()
        answer = await surge.client.get(LINKS, headers=key)
        assert answer.status_code == 200
        assert "ratelimit-limit" not in answer.headers


async def test_a_redis_that_fails_leaves_each_process_counting_on_its_own(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path,
        redis_url="redis://127.0.0.1:1/0",  # nothing listens there
        redis_timeout_s=0.2,
        rate_limit_per_key="2/minute",
    )
    async with running_surge(settings) as surge:
        key = await surge.new_key()
        # Not an outage: the budget is served from the process's own count...
        for _ in range(2):
            assert (await surge.client.get(LINKS, headers=key)).status_code == 200
        # ...and not a window without limits either.
        refused = await surge.client.get(LINKS, headers=key)
        assert refused.status_code == 429
        assert refused.headers["retry-after"]


async def test_redirects_have_their_own_per_ip_limit_when_one_is_set(
    tmp_path: Path, backend: dict[str, Any]
) -> None:
    settings = make_settings(tmp_path, **backend, rate_limit_redirects_per_ip="3/minute")
    async with running_surge(settings) as surge:
        key = await surge.new_key()
        made = await surge.client.post(LINKS, json={"url": "https://example.com"}, headers=key)
        slug = made.json()["slug"]
        for _ in range(3):
            assert (
                await surge.client.get(f"/{slug}", headers=from_ip("198.51.100.4"))
            ).status_code == 302
        refused = await surge.client.get(f"/{slug}", headers=from_ip("198.51.100.4"))
        assert_limited(refused, 3)
        assert (
            await surge.client.get(f"/{slug}", headers=from_ip("198.51.100.5"))
        ).status_code == 302
        await surge.flush_clicks()
        stats = await surge.stats(slug, key)
        assert stats["total"] == 4  # a refused redirect is not a click
