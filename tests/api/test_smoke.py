from __future__ import annotations

from tests.conftest import Surge
from tests.helpers import BROWSER_UA


async def test_create_follow_and_count(surge: Surge, key: dict[str, str]) -> None:
    created = await surge.client.post(
        "/api/v1/links", json={"url": "https://example.com/a"}, headers=key
    )
    assert created.status_code == 201, created.text
    slug = created.json()["slug"]
    assert len(slug) == 7
    assert created.json()["short_url"] == f"http://sho.rt/{slug}"

    followed = await surge.client.get(f"/{slug}", headers={"user-agent": BROWSER_UA})
    assert followed.status_code == 302
    assert followed.headers["location"] == "https://example.com/a"
    assert followed.headers["cache-control"] == "private, max-age=0"

    stats = await surge.stats(slug, key)
    assert stats["total"] == 1


async def test_max_clicks_ends_in_410_and_counts_earlier_clicks(
    surge: Surge, key: dict[str, str]
) -> None:
    body = {"url": "https://example.com/limited", "max_clicks": 3}
    slug = (await surge.client.post("/api/v1/links", json=body, headers=key)).json()["slug"]
    assert (await surge.client.get(f"/{slug}")).status_code == 302
    await surge.flush_clicks()
    # Forget the cached entry: the count now comes from analytics, not this process's counter.
    surge.redirect.cache.clear()
    statuses = [(await surge.client.get(f"/{slug}")).status_code for _ in range(3)]
    assert statuses == [302, 302, 410]
    stats = await surge.stats(slug, key)
    assert stats["total"] == 3


async def test_expires_at_ends_in_410(surge: Surge, key: dict[str, str]) -> None:
    body = {"url": "https://example.com/soon", "expires_at": "2099-01-01T00:00:00Z"}
    slug = (await surge.client.post("/api/v1/links", json=body, headers=key)).json()["slug"]
    assert (await surge.client.get(f"/{slug}")).status_code == 302
    surge.redirect.clock = lambda: 4_070_908_800.0  # 2099-01-01T00:00:00Z
    gone = await surge.client.get(f"/{slug}", headers={"accept": "text/html"})
    assert gone.status_code == 410
    assert "expired" in gone.text
