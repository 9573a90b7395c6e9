"""The dashboard as a place to work, on both backends: the links list's clicks column, its order
by clicks and its sparklines; the overview, whose numbers are the sums of the links' own stats
(a user's links, an admin's everyone); deleting a link's visits with a confirmation."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
import time_machine
from sqlalchemy import update

from surge.data.tables import links
from surge.platform.clock import utc_now
from surge.platform.config import Settings
from tests.conftest import Surge, running_surge
from tests.helpers import DASHBOARD_PASSWORD, IPHONE, csrf_of, dashboard_sign_in, event

DAY = timedelta(days=1)


@dataclass
class Seeded:
    surge: Surge
    ada: httpx.AsyncClient  # signed in as ada@example.com, a user
    ada_csrf: str
    ada_key: dict[str, str]
    root_key: dict[str, str]  # an admin's key


# Human clicks per link, as the list and the stats count them (bots apart).
CLICKS = {"alpha": 5, "beta": 7, "gamma": 0, "root-link": 4}


async def seed_clicks(surge: Surge, now: datetime) -> None:
    """Clicks over several days, from several countries and referrers, and a bot."""
    ids = {slug: (await surge.links.get(None, slug)).id for slug in CLICKS}
    events = [
        *(event(ids["alpha"], visitor=f"a{i}", at=now, country="DE") for i in range(3)),
        *(
            event(ids["alpha"], visitor="a", at=now - 5 * DAY, referrer="https://t.co/x")
            for _ in range(2)
        ),
        *(
            event(
                ids["beta"],
                visitor=f"b{i}",
                ua=IPHONE,
                at=now - i * DAY,
                country="JP",
                referrer="https://news.ycombinator.com/",
            )
            for i in range(7)
        ),
        *(event(ids["root-link"], visitor=f"r{i}", at=now - DAY, country="FR") for i in range(4)),
        event(ids["alpha"], ua="Googlebot/2.1 (+http://www.google.com/bot.html)", at=now),
    ]
    await surge.analytics.clicks.ingest(events)  # type: ignore[union-attr]


@pytest.fixture
async def seeded(settings: Settings) -> AsyncIterator[Seeded]:
    async with running_surge(settings) as surge:
        users = surge.api.users
        assert users is not None
        assert surge.api.keys is not None
        root = await users.create("root@example.com", password=DASHBOARD_PASSWORD, is_admin=True)
        ada = await users.create("ada@example.com", password=DASHBOARD_PASSWORD)
        ada_key = await surge.api.keys.create("ada", user_id=ada.user.id)
        root_key = await surge.api.keys.create("root", user_id=root.user.id, is_admin=True)
        now = utc_now()
        with time_machine.travel(now - 10 * DAY, tick=True):  # made before their clicks
            for slug in ("alpha", "beta", "gamma"):
                body = {"url": f"https://example.com/{slug}", "slug": slug}
                headers = {"Authorization": f"Bearer {ada_key.secret}"}
                assert (
                    await surge.client.post("/api/v1/links", json=body, headers=headers)
                ).status_code == 201
            body = {"url": "https://example.com/root", "slug": "root-link"}
            headers = {"Authorization": f"Bearer {root_key.secret}"}
            assert (
                await surge.client.post("/api/v1/links", json=body, headers=headers)
            ).status_code == 201
        await seed_clicks(surge, now)
        transport = surge.client._transport
        async with httpx.AsyncClient(
            transport=transport, base_url=surge.client.base_url
        ) as ada_client:
            csrf = await dashboard_sign_in(ada_client, "ada@example.com")
            await dashboard_sign_in(surge.client, "root@example.com")
            yield Seeded(
                surge,
                ada_client,
                csrf,
                {"Authorization": f"Bearer {ada_key.secret}"},
                {"Authorization": f"Bearer {root_key.secret}"},
            )


def listed(page: httpx.Response) -> list[tuple[str, str]]:
    """(slug, clicks shown) of each row of the links list, in order."""
    assert page.status_code == 200, page.text[:500]
    body = re.search(r"<tbody>(.*?)</tbody>", page.text, re.S)
    assert body is not None, page.text[:2000]
    rows = re.findall(r"<tr>(.*?)</tr>", body.group(1), re.S)
    found = []
    for row in rows:
        slug = re.search(r'class="slug">([^<]+)</a>', row)
        count = re.search(r'<span class="count">([^<]+)</span>', row)
        assert slug, row
        assert count, row
        found.append((slug.group(1), count.group(1)))
    return found


async def test_the_links_list_shows_clicks_sorts_by_them_and_draws_sparklines(
    seeded: Seeded,
) -> None:
    newest = await seeded.ada.get("/app/links")
    assert listed(newest) == [("gamma", "0"), ("beta", "7"), ("alpha", "5")]
    by_clicks = await seeded.ada.get("/app/links?sort=clicks")
    assert listed(by_clicks) == [("beta", "7"), ("alpha", "5"), ("gamma", "0")]
    assert 'aria-sort="descending"><a id="sort-clicks"' in by_clicks.text
    # A sparkline per link, drawn in the page (no request, no script), saying what it shows.
    sparks = re.findall(r'<svg class="spark" role="img" aria-label="([^"]+)"', by_clicks.text)
    assert len(sparks) == 3
    assert sparks[0].startswith("7 clicks from ")
    assert sparks[1].startswith("5 clicks from ")
    assert sparks[2].startswith("No clicks from ")
    assert "style=" not in by_clicks.text  # the CSP allows no style attribute

    # The admin: their own by default, everyone's on asking; sorted the same way.
    everyone = await seeded.surge.client.get("/app/links?every=true&sort=clicks")
    assert listed(everyone) == [("beta", "7"), ("alpha", "5"), ("root-link", "4"), ("gamma", "0")]
    assert listed(await seeded.surge.client.get("/app/links")) == [("root-link", "4")]
    # Filters apply to the order by clicks too; ada cannot list everyone's.
    assert listed(await seeded.ada.get("/app/links?sort=clicks&q=alp")) == [("alpha", "5")]
    assert [s for s, _ in listed(await seeded.ada.get("/app/links?sort=clicks&every=true"))] == [
        "beta",
        "alpha",
        "gamma",
    ]


async def test_the_links_list_pages_by_clicks(seeded: Seeded) -> None:
    surge = seeded.surge
    for i in range(26):  # 26 links more: two pages
        body = {"url": "https://example.com/", "slug": f"more-{i:02}"}
        made = await surge.client.post("/api/v1/links", json=body, headers=seeded.ada_key)
        assert made.status_code == 201
    first = await seeded.ada.get("/app/links?sort=clicks")
    rows = listed(first)
    assert rows[:2] == [("beta", "7"), ("alpha", "5")]
    assert len(rows) == 25
    assert 'id="next-page"' in first.text
    second = listed(await seeded.ada.get("/app/links?sort=clicks&page=2"))
    assert len(second) == 4
    assert {s for s, _ in rows + second} == {"alpha", "beta", "gamma"} | {
        f"more-{i:02}" for i in range(26)
    }
    assert (await seeded.ada.get("/app/links?sort=clicks&page=0")).status_code == 422


def figure(page: httpx.Response, name: str) -> int:
    found = re.search(rf'id="{name}">(\d+)<', page.text)
    assert found is not None, page.text[:2000]
    return int(found.group(1))


async def summed_stats(
    surge: Surge, slugs: list[str], key: dict[str, str], params: dict[str, str]
) -> dict[str, Any]:
    totals = {"total": 0, "unique_visitors": 0, "bot_clicks": 0}
    for slug in slugs:
        stats = await surge.stats(slug, key, **params)
        for name in totals:
            totals[name] += stats[name]
    return totals


async def test_the_overview_sums_the_links_stats_for_a_user_and_for_an_admin(
    seeded: Seeded,
) -> None:
    surge = seeded.surge
    page = await seeded.ada.get("/app/overview?days=7")
    assert page.status_code == 200
    shown = re.search(r'id="range">(\S+ \S+) to (\S+ \S+) UTC<', page.text)
    assert shown is not None
    start = datetime.fromisoformat(shown.group(1) + "+00:00")
    params = {"from": start.isoformat(), "to": utc_now().isoformat()}
    ada_sum = await summed_stats(surge, ["alpha", "beta", "gamma"], seeded.ada_key, params)
    assert figure(page, "total-clicks") == ada_sum["total"] == 12
    assert figure(page, "unique-visitors") == ada_sum["unique_visitors"]
    assert figure(page, "bot-clicks") == ada_sum["bot_clicks"] == 1
    assert figure(page, "link-count") == 3
    top = re.findall(r'class="slug">([^<]+)</a>.*?<td>(\d+)</td>', page.text)
    assert top == [("beta", "7"), ("alpha", "5")]
    countries = re.search(r'<section id="countries">(.*?)</section>', page.text, re.S)
    assert countries is not None
    assert re.findall(r'<th scope="row">([^<]+)</th><td>(\d+)</td>', countries.group(1)) == [
        ("JP", "7"),
        ("DE", "3"),
        ("(unknown)", "2"),
    ]
    assert 'src="data:image/svg+xml;base64,' in page.text  # the chart, in the page
    assert 'id="scope"' not in page.text  # no "everyone" for a user
    # A user asking for everyone's still gets their own.
    assert figure(await seeded.ada.get("/app/overview?days=7&every=true"), "total-clicks") == 12

    admin = await surge.client.get("/app/overview?days=7")
    assert figure(admin, "total-clicks") == 4  # the admin's own link
    everyone = await surge.client.get("/app/overview?days=7&every=true")
    every_sum = await summed_stats(surge, list(CLICKS), seeded.root_key, params)
    assert figure(everyone, "total-clicks") == every_sum["total"] == 16
    assert figure(everyone, "unique-visitors") == every_sum["unique_visitors"]
    assert figure(everyone, "link-count") == 4
    assert "Everyone's overview" in everyone.text


async def test_the_overview_is_where_one_lands_and_says_what_is_wrong_with_a_range(
    seeded: Seeded,
) -> None:
    assert (await seeded.ada.get("/app/")).headers["location"] == "/app/overview"
    nav = await seeded.ada.get("/app/overview")
    assert '<a href="/app/overview">Overview</a>' in nav.text
    backwards = await seeded.ada.get("/app/overview?from=2027-06-10&to=2027-06-01")
    assert backwards.status_code == 200
    assert 'id="range-problem"' in backwards.text
    assert (await seeded.ada.get("/app/overview?days=12")).status_code == 422
    # The form sends its date fields empty when they are: the last `days` days then.
    sent = await seeded.ada.get("/app/overview?days=7&from=&to=&interval=day")
    assert figure(sent, "total-clicks") == figure(
        await seeded.ada.get("/app/overview?days=7"), "total-clicks"
    )
    junk = await seeded.ada.get("/app/overview?from=junk")
    assert "&#39;from&#39; is not a date" in junk.text


async def test_a_links_visits_are_deleted_after_a_confirmation(seeded: Seeded) -> None:
    surge, ada = seeded.surge, seeded.ada
    page = await ada.get("/app/links/alpha")
    assert 'href="/app/links/alpha/visits/delete"' in page.text
    assert figure(page, "total-clicks") == 5
    confirm = await ada.get("/app/links/alpha/visits/delete")
    assert confirm.status_code == 200
    assert "Delete the visits of" in confirm.text
    assert 'action="/app/links/alpha/visits/delete"' in confirm.text

    forged = await ada.post("/app/links/alpha/visits/delete", data={})
    assert forged.status_code == 403
    assert figure(await ada.get("/app/links/alpha"), "total-clicks") == 5  # nothing deleted
    other = await ada.post("/app/links/root-link/visits/delete", data={"csrf": csrf_of(confirm)})
    assert other.status_code == 404  # another's link: not found, nothing deleted

    done = await ada.post("/app/links/alpha/visits/delete", data={"csrf": csrf_of(confirm)})
    assert done.status_code == 303
    assert done.headers["location"] == "/app/links/alpha"
    after = await ada.get("/app/links/alpha")
    assert re.search(r'id="visits-deleted">6 visits deleted', after.text)  # the bot's too
    assert figure(after, "total-clicks") == 0
    assert figure(after, "bot-clicks") == 0
    assert 'id="visits-deleted"' not in (await ada.get("/app/links/alpha")).text  # said once
    stats = await surge.stats("alpha", seeded.ada_key)
    assert (stats["total"], stats["unique_visitors"]) == (0, 0)
    assert listed(await ada.get("/app/links?q=alpha")) == [("alpha", "0")]
    assert figure(await surge.client.get("/app/overview?every=true"), "total-clicks") == 11


async def test_clicks_brought_by_an_import_count_in_the_column_and_its_order(
    seeded: Seeded,
) -> None:
    """A link made by `surge import` with the clicks it had elsewhere: its stats count them,
    so do the list's column and its order (ranked with the others, whatever the page)."""
    surge = seeded.surge
    assert surge.api.data is not None
    async with surge.api.data.sessions() as session:
        await session.execute(
            update(links).where(links.c.slug == "gamma").values(imported_clicks=6)
        )
        await session.commit()
    assert (await surge.stats("gamma", seeded.ada_key, **{"from": "2020-01-01T00:00:00Z"}))[
        "total"
    ] == 6
    assert listed(await seeded.ada.get("/app/links?sort=clicks")) == [
        ("beta", "7"),
        ("gamma", "6"),
        ("alpha", "5"),
    ]
    async with surge.api.data.sessions() as session:
        await session.execute(
            update(links).where(links.c.slug == "gamma").values(imported_clicks=60)
        )
        await session.commit()
    assert listed(await seeded.ada.get("/app/links?sort=clicks")) == [
        ("gamma", "60"),
        ("beta", "7"),
        ("alpha", "5"),
    ]


async def test_the_list_is_shown_without_its_clicks_while_analytics_is_away(
    seeded: Seeded,
) -> None:
    def unreachable(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("analytics is down", request=request)

    seeded.surge.links.analytics.client._transport = httpx.MockTransport(unreachable)
    page = await seeded.ada.get("/app/links")
    assert listed(page) == [("gamma", "—"), ("beta", "—"), ("alpha", "—")]
    assert '<svg class="spark"' not in page.text
    overview = await seeded.ada.get("/app/overview")
    assert overview.status_code == 200
    assert 'id="stats-unavailable"' in overview.text
    by_clicks = await seeded.ada.get("/app/links?sort=clicks")
    assert by_clicks.status_code == 503  # the order itself is what is away
