"""The live panel's stream (`GET /app/live`) in-process, on both backends: the embedded one
(analytics publishes into the api's hub) and the production one (through the capped Redis
stream and the api's reader). Who may watch what, the bounds, and clicks arriving."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from prometheus_client import REGISTRY

from surge.dashboard.pages import templates
from surge.links.schemas import LinkCreate
from surge.platform.admission import admission
from surge.platform.config import Settings
from surge.platform.service import Lifespan
from surge.services.api import ApiService
from tests.conftest import Surge, running_surge
from tests.dashboard.sse import Stream, open_stream
from tests.helpers import (
    BROWSER_UA,
    DASHBOARD_PASSWORD,
    PROBLEM_JSON,
    dashboard_sign_in,
    make_settings,
)


@dataclass
class People:
    surge: Surge
    alice: httpx.AsyncClient  # owns a-link
    bob: httpx.AsyncClient  # owns b-link
    root: httpx.AsyncClient  # an admin
    alice_id: int = 0

    async def watch(self, client: httpx.AsyncClient, query: str = "") -> Stream:
        return await open_stream(self.surge.api.app, client, f"/app/live{query}")

    async def click(self, slug: str, *, country: str = "DE") -> None:
        headers = {
            "user-agent": BROWSER_UA,
            "referer": "https://news.example.org/item?id=1",
            "cf-ipcountry": country,
        }
        answer = await self.surge.client.get(f"/{slug}", headers=headers)
        assert answer.status_code == 302
        await self.surge.flush_clicks()


@pytest.fixture
async def people(surge: Surge) -> AsyncIterator[People]:
    users = surge.api.users
    assert users is not None
    clients, ids = [], []
    for email, is_admin in (("alice@x.org", False), ("bob@x.org", False), ("root@x.org", True)):
        made = await users.create(email, password=DASHBOARD_PASSWORD, is_admin=is_admin)
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=surge.api.app), base_url="http://sho.rt"
        )
        await dashboard_sign_in(client, email)
        clients.append(client)
        ids.append(made.user.id)
        if not is_admin:
            slug = f"{email[0]}-link"
            await surge.links.create(
                made.user.id, LinkCreate(url=f"https://example.com/{slug}", slug=slug)
            )
    yield People(surge, *clients, alice_id=ids[0])
    for client in clients:
        await client.aclose()


def open_streams() -> float:
    return REGISTRY.get_sample_value("surge_live_streams") or 0.0


async def test_a_click_reaches_the_open_stream_of_its_link(people: People) -> None:
    before = open_streams(), admission.in_flight
    stream = await people.watch(people.alice, "?slug=a-link")
    assert stream.status == 200
    assert stream.headers["content-type"].startswith("text/event-stream")
    await stream.next_event(name="ready")
    # Open for as long as the page is: counted apart, not as a request in flight.
    assert (open_streams(), admission.in_flight) == (before[0] + 1, before[1])

    await people.click("a-link")
    event = await stream.next_event(name="clicks")
    assert event.data["clicks"] == 1
    assert event.data["bots"] == 0
    [click] = event.data["recent"]
    # Only what the link's stats show anyway: no address, no visitor id, no user agent.
    assert set(click) == {"at", "country", "referrer", "device", "bot"}
    assert (click["country"], click["referrer"], click["device"]) == (
        "DE",
        "news.example.org",
        "desktop",
    )

    await stream.close()
    assert open_streams() == before[0]


async def test_a_stream_of_all_my_links_shows_only_mine(people: People) -> None:
    mine = await people.watch(people.alice)
    everyones = await people.watch(people.root, "?every=1")
    roots_own = await people.watch(people.root)  # an admin without every=1: their own links
    for stream in (mine, everyones, roots_own):
        await stream.next_event(name="ready")

    await people.click("b-link", country="FR")
    await people.click("a-link", country="JP")

    event = await mine.next_event(name="clicks")
    assert event.data["clicks"] == 1
    assert [(c["link"], c["country"], c["href"]) for c in event.data["recent"]] == [
        ("a-link", "JP", "/app/links/a-link")
    ]
    seen: set[str] = set()
    while seen != {"a-link", "b-link"}:
        event = await everyones.next_event(name="clicks")
        seen |= {c["link"] for c in event.data["recent"]}
    # Root owns no link: its own stream says nothing about anyone's clicks.
    with pytest.raises(pytest.fail.Exception):
        await roots_own.next_event(name="clicks", timeout_s=0.5)
    for stream in (mine, everyones, roots_own):
        await stream.close()


async def test_who_may_not_watch_is_told_why(people: People) -> None:
    signed_out = await open_stream(people.surge.api.app, people.surge.client, "/app/live")
    assert (signed_out.status, signed_out.headers["content-type"]) == (401, PROBLEM_JSON)

    others = await people.watch(people.alice, "?slug=b-link")
    assert (others.status, others.headers["content-type"]) == (404, PROBLEM_JSON)
    assert b"urn:surge:problem:not-found" in others.body

    unknown = await people.watch(people.alice, "?slug=nope")
    assert unknown.status == 404


async def test_a_user_has_a_bounded_number_of_streams(people: People) -> None:
    bound = people.surge.settings.live_max_streams_per_user
    streams = [await people.watch(people.alice, "?slug=a-link") for _ in range(bound)]
    assert [s.status for s in streams] == [200] * bound

    refused = await people.watch(people.alice)
    assert refused.status == 429
    assert b"urn:surge:problem:rate-limited" in refused.body
    assert (await people.watch(people.bob)).status == 200  # someone else's bound is theirs

    await streams[0].close()  # a page closed: its place is free again
    again = await people.watch(people.alice)
    assert again.status == 200
    for stream in [*streams[1:], again]:
        await stream.close()


async def test_the_process_bound_holds_for_everyone(people: People) -> None:
    live = people.surge.api.live
    assert live is not None
    live.overall = 1
    first = await people.watch(people.alice)
    refused = await people.watch(people.bob)
    assert refused.status == 503
    await first.close()
    assert (await people.watch(people.bob)).status == 200


async def test_heartbeats_keep_an_idle_stream_open(people: People) -> None:
    live = people.surge.api.live
    assert live is not None
    live.heartbeat_s = 0.05
    stream = await people.watch(people.alice, "?slug=a-link")
    await stream.next_event(name="ready")
    while "heartbeat" not in stream.comments:
        await people.click("b-link")  # someone else's click: nothing for this stream
        with pytest.raises(pytest.fail.Exception):
            await stream.next_event(name="clicks", timeout_s=0.2)
    await stream.close()


async def test_streams_end_when_the_api_stops(people: People) -> None:
    stream = await people.watch(people.alice, "?slug=a-link")
    await stream.next_event(name="ready")
    live = people.surge.api.live
    assert live is not None
    live.close_all()  # what ApiService.stop does first: no panel holds the shutdown
    await stream.next_event(name="end")
    await stream.close()
    assert live.open_count(people.alice_id) == 0


@pytest.mark.parametrize("backend", ["production"], indirect=True)
async def test_a_click_counted_by_another_process_reaches_the_stream(
    people: People, settings: Settings
) -> None:
    """Two Surges on one database and Redis (two processes of the production topology): the
    panel open on one sees a click the other one's redirect took."""
    async with running_surge(settings) as other:
        stream = await open_stream(other.api.app, people.alice, "/app/live?slug=a-link")
        await stream.next_event(name="ready")
        await people.click("a-link")
        event = await stream.next_event(name="clicks")
        assert (event.data["clicks"], event.data["recent"][0]["country"]) == (1, "DE")
        await stream.close()


def test_the_panel_shows_all_my_links_where_there_is_no_link() -> None:
    """The include as a page without a link (the overview) uses it: every link of the user,
    or of everyone for an admin, each click with its link."""
    panel = templates.get_template("_live.html")
    mine = panel.render(request=None)
    assert 'data-live-src="/app/live"' in mine
    assert '<th scope="col">Link</th>' in mine
    assert 'data-live-src="/app/live?every=1"' in panel.render(request=None, live_every=True)


async def test_an_api_with_nothing_feeding_it_opens_no_stream(
    people: People, tmp_path: Path
) -> None:
    """An api process of its own without Redis: no analytics can reach its hub, so a panel
    is told at once rather than left waiting for clicks that never come."""
    alone = ApiService(make_settings(tmp_path / "alone"), migrate=True)
    async with Lifespan(alone.app, [alone]):
        assert alone.live is not None
        assert not alone.live.fed
    live = people.surge.api.live
    assert live is not None
    assert live.fed  # all in one, or with Redis
    live.fed = False
    refused = await people.watch(people.alice)
    assert refused.status == 503
    assert b"urn:surge:problem:dependency-unavailable" in refused.body
