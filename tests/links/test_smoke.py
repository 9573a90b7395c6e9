from __future__ import annotations

from tests.conftest import BROWSER_UA, Surge


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
