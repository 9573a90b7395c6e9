"""`GET /api/v1/overview`: the key's user's links summed (each figure the sum of the links'
own stats), an admin key's everyone on asking, and a bad range refused as a problem."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from surge.platform.clock import utc_now
from tests.conftest import Surge
from tests.helpers import BROWSER_UA, LINKS, assert_problem

OVERVIEW = "/api/v1/overview"


async def click(surge: Surge, slug: str, n: int, country: str, referrer: str) -> None:
    for i in range(n):
        headers = {
            "user-agent": f"{BROWSER_UA} v{i}",  # another visitor each
            "cf-ipcountry": country,
            "referer": referrer,
        }
        assert (await surge.client.get(f"/{slug}", headers=headers)).status_code == 302


async def overview(surge: Surge, key: dict[str, str], **params: str) -> dict[str, Any]:
    await surge.flush_clicks()
    answer = await surge.client.get(OVERVIEW, headers=key, params=params)
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


async def test_the_overview_sums_the_keys_users_links(surge: Surge, key: dict[str, str]) -> None:
    other = await surge.new_key("other")
    assert surge.api.keys is not None
    admin = await surge.api.keys.create("admin", is_admin=True)
    admin_key = {"Authorization": f"Bearer {admin.secret}"}
    for owner, slug in ((key, "a"), (key, "b"), (other, "c")):
        body = {"url": f"https://example.com/{slug}", "slug": slug}
        assert (await surge.client.post(LINKS, json=body, headers=owner)).status_code == 201
    await click(surge, "a", 3, "DE", "https://news.ycombinator.com/item")
    await click(surge, "b", 1, "JP", "https://t.co/x")
    await click(surge, "c", 2, "FR", "https://t.co/y")

    mine = await overview(surge, key)
    each = [await surge.stats(slug, key) for slug in ("a", "b")]
    for figure in ("total", "unique_visitors", "bot_clicks"):
        assert mine[figure] == sum(stats[figure] for stats in each), figure
    assert (mine["total"], mine["links"]) == (4, 2)
    assert [(t["slug"], t["clicks"]) for t in mine["top_links"]] == [("a", 3), ("b", 1)]
    assert mine["top_links"][0]["short_url"].endswith("/a")
    assert {c["value"]: c["clicks"] for c in mine["countries"]} == {"DE": 3, "JP": 1}
    assert {r["value"]: r["clicks"] for r in mine["referrers"]} == {
        "news.ycombinator.com": 3,
        "t.co": 1,
    }
    assert sum(p["clicks"] for p in mine["timeseries"]) == 4
    # The range counted, as a link's stats: the 7 days before now.
    counted = datetime.fromisoformat(mine["to"]) - datetime.fromisoformat(mine["from"])
    assert counted == timedelta(days=7)

    everyone = await overview(surge, admin_key, every="true")
    assert (everyone["total"], everyone["links"]) == (6, 3)
    assert [t["slug"] for t in everyone["top_links"]] == ["a", "c", "b"]
    admins_own = await overview(surge, admin_key)
    assert (admins_own["total"], admins_own["links"]) == (0, 0)
    not_admin = await overview(surge, other, every="true")  # not an admin: its own only
    assert (not_admin["total"], not_admin["links"]) == (2, 1)
    by_hour = await overview(surge, key, interval="hour")
    assert by_hour["total"] == 4
    assert sum(p["clicks"] for p in by_hour["timeseries"]) == 4


async def test_a_bad_range_is_a_problem(surge: Surge, key: dict[str, str]) -> None:
    now = utc_now()
    body = {"url": "https://example.com/", "slug": "x"}
    assert (await surge.client.post(LINKS, json=body, headers=key)).status_code == 201
    backwards = {"from": now.isoformat(), "to": (now - timedelta(days=1)).isoformat()}
    answer = await surge.client.get(OVERVIEW, headers=key, params=backwards)
    assert_problem(answer, 400, "invalid-range")
    # Wholly before the first link (nothing to clamp to), by the hour: too many points.
    long_ago = {
        "from": (now - timedelta(days=400)).isoformat(),
        "to": (now - timedelta(days=200)).isoformat(),
        "interval": "hour",
    }
    answer = await surge.client.get(OVERVIEW, headers=key, params=long_ago)
    assert_problem(answer, 400, "range-too-large")
    answer = await surge.client.get(OVERVIEW, headers=key, params={"from": "yesterday"})
    assert_problem(answer, 422, "validation-error")
    assert_problem(await surge.client.get(OVERVIEW), 401, "unauthorized")
    # A range reaching from long before the first link to now is clamped, not refused.
    clamped = await surge.client.get(
        OVERVIEW, headers=key, params={"from": "2000-01-01T00:00:00Z", "interval": "hour"}
    )
    assert clamped.status_code == 200, clamped.text


async def test_analytics_answers_about_many_links_only_with_the_internal_token(
    surge: Surge,
) -> None:
    for path in ("overview", "ranking", "daily-series"):
        answer = await surge.client.post(f"/internal/analytics/{path}", json={"link_ids": [1]})
        assert_problem(answer, 403, "forbidden")
