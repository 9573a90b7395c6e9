"""Downloads of a link's raw visits (`GET /api/v1/links/{slug}/visits?format=csv|json`) and of
its stats as CSV (`/stats?format=csv`): what was ingested, in order, in every page, on both
backends; ranges; ownership; bad input refused as a problem."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from surge.analytics.enrich import enrich
from surge.data.events import ClickEvent
from surge.links.exports import DownloadCut, VisitPages
from surge.platform.clock import utc_now
from surge.platform.problems import ANALYTICS_UNAVAILABLE, PROBLEM_CONTENT_TYPE
from tests.conftest import Surge
from tests.helpers import LINKS, event

BOT_UA = "Googlebot/2.1 (+http://www.google.com/bot.html)"
VISITS = LINKS + "/{}/visits"


async def new_link(surge: Surge, key: dict[str, str], slug: str) -> int:
    made = await surge.client.post(LINKS, json={"url": "https://e.com/", "slug": slug}, headers=key)
    assert made.status_code == 201, made.text
    return (await surge.links.get(None, slug)).id


async def ingested(surge: Surge, events: list[ClickEvent]) -> None:
    assert surge.analytics.clicks is not None
    result = await surge.analytics.clicks.ingest(events)
    assert result.ingested == len(events)


def expected(events: list[ClickEvent]) -> list[dict[str, Any]]:
    """The visits a download lists for these events: as ingest enriched them, oldest first."""
    rows = []
    for e in events:
        click = enrich(e)
        rows.append(
            {
                "id": click.id,
                "time": click.occurred_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "referrer": click.referrer_host,
                "country": click.country,
                "region": click.region,
                "city": click.city,
                "device": click.device,
                "browser": click.browser,
                "os": click.os,
                "bot": click.is_bot,
                "target": click.target,
            }
        )
    return sorted(rows, key=lambda r: (r["time"], r["id"]))


def as_csv(rows: list[dict[str, Any]]) -> list[dict[str, str]]:
    """How CSV writes these rows: every value a string, none empty, booleans in lower case."""

    def text(value: Any) -> str:
        if value is None:
            return ""
        return str(value).lower() if isinstance(value, bool) else str(value)

    return [{k: text(v) for k, v in row.items()} for row in rows]


async def download(
    surge: Surge, key: dict[str, str], slug: str, fmt: str, **params: str
) -> tuple[Any, str]:
    response = await surge.client.get(
        VISITS.format(slug), params={"format": fmt, **params}, headers=key
    )
    assert response.status_code == 200, response.text
    disposition = response.headers["content-disposition"]
    assert disposition == f'attachment; filename="{slug}-visits.{fmt}"'
    if fmt == "json":
        assert response.headers["content-type"] == "application/json"
        return response.json(), response.text
    assert response.headers["content-type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.text))), response.text


async def test_a_download_lists_every_visit_as_ingested_in_both_formats(
    surge: Surge, key: dict[str, str]
) -> None:
    link_id = await new_link(surge, key, "dl")
    now = utc_now()
    events = [
        event(link_id, at=now - timedelta(hours=3), referrer="https://news.ycombinator.com/x"),
        event(link_id, at=now - timedelta(hours=2), country="FR", visitor="v2"),
        event(link_id, at=now - timedelta(hours=1), ua=BOT_UA),
        # A referrer a spreadsheet would take for a formula is written as text in CSV.
        event(link_id, at=now - timedelta(minutes=5), referrer="http://=cmd|x/"),
        event(link_id + 1, at=now),  # another link's: not in this one's download
    ]
    await ingested(surge, events)
    want = expected(events[:4])
    assert [row["bot"] for row in want] == [False, False, True, False]

    listed, _ = await download(surge, key, "dl", "json")
    assert listed == want
    rows, text = await download(surge, key, "dl", "csv")
    assert (
        text.splitlines()[0] == "id,time,referrer,country,region,city,device,browser,os,bot,target"
    )
    guarded = as_csv(want)
    guarded[3]["referrer"] = "'" + guarded[3]["referrer"]
    assert guarded[3]["referrer"] == "'=cmd|x"
    assert rows == guarded
    # JSON is the default.
    assert (await surge.client.get(VISITS.format("dl"), headers=key)).json() == want


async def test_a_range_lists_the_visits_in_from_to(surge: Surge, key: dict[str, str]) -> None:
    link_id = await new_link(surge, key, "ranged")
    start = utc_now().replace(minute=0, second=0, microsecond=0) - timedelta(days=2)
    events = [event(link_id, at=start + timedelta(hours=h)) for h in range(6)]
    await ingested(surge, events)
    want = expected(events)
    window = {
        "from": (start + timedelta(hours=1)).isoformat(),
        "to": (start + timedelta(hours=4)).isoformat(),
    }
    listed, _ = await download(surge, key, "ranged", "json", **window)
    assert listed == want[1:4]  # `from` included, `to` not
    rows, _ = await download(surge, key, "ranged", "csv", **window)
    assert rows == as_csv(want[1:4])
    listed, _ = await download(surge, key, "ranged", "json", **{"from": window["to"]})
    assert listed == want[4:]
    # A range with nothing in it is an empty download, not a refusal: `from` after `to`,
    # and bounds a zone puts past what a time can be.
    for empty in (
        {"from": window["to"], "to": window["from"]},
        {"from": "9999-12-31T23:59:59-05:00"},
        {"to": "0001-01-01T00:00:00+05:00"},
    ):
        assert (await download(surge, key, "ranged", "json", **empty))[0] == []
    unbounded = {"from": "0001-01-01T00:00:00+05:00", "to": "9999-12-31T23:59:59-05:00"}
    assert (await download(surge, key, "ranged", "json", **unbounded))[0] == want


async def test_a_link_without_visits_downloads_an_empty_list(
    surge: Surge, key: dict[str, str]
) -> None:
    await new_link(surge, key, "quiet")
    assert (await download(surge, key, "quiet", "json"))[0] == []
    rows, text = await download(surge, key, "quiet", "csv")
    assert rows == []
    assert text == "id,time,referrer,country,region,city,device,browser,os,bot,target\r\n"


async def test_many_pages_list_each_visit_once_in_order(
    surge: Surge, key: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("surge.links.exports.EXPORT_CHUNK", 7)
    monkeypatch.setattr("surge.links.exports.WRITE_SLICE", 3)  # pages are written in slices
    link_id = await new_link(surge, key, "busy")
    base = utc_now() - timedelta(hours=1)
    # Several visits share an instant, so pages also end in the middle of one.
    events = [event(link_id, at=base + timedelta(seconds=i // 4)) for i in range(60)]
    await ingested(surge, events)
    want = expected(events)
    listed, _ = await download(surge, key, "busy", "json")
    assert listed == want  # 60 visits in 9 pages: all, in (time, id) order, none twice
    rows, _ = await download(surge, key, "busy", "csv")
    assert rows == as_csv(want)
    # A multiple of the page size: the last full page is followed by an empty one.
    await ingested(surge, [event(link_id, at=base + timedelta(minutes=30)) for _ in range(3)])
    listed, _ = await download(surge, key, "busy", "json")
    assert len(listed) == 63
    assert len({row["id"] for row in listed}) == 63


async def test_another_owners_link_and_an_unknown_one_are_not_found(
    surge: Surge, key: dict[str, str]
) -> None:
    await new_link(surge, key, "mine")
    other = await surge.new_key("other")
    for path, params in (
        (VISITS.format("mine"), {"format": "csv"}),
        (VISITS.format("nope"), {"format": "json"}),
        (f"{LINKS}/mine/stats", {"format": "csv"}),
    ):
        response = await surge.client.get(
            path, params=params, headers=other if "mine" in path else key
        )
        assert response.status_code == 404, path
        assert response.headers["content-type"] == PROBLEM_CONTENT_TYPE
        assert response.json()["type"] == "urn:surge:problem:not-found"


async def test_a_format_that_is_neither_csv_nor_json_is_refused(
    surge: Surge, key: dict[str, str]
) -> None:
    await new_link(surge, key, "fmt")
    for path in (VISITS.format("fmt"), f"{LINKS}/fmt/stats"):
        response = await surge.client.get(path, params={"format": "xlsx"}, headers=key)
        assert response.status_code == 422
        assert response.headers["content-type"] == PROBLEM_CONTENT_TYPE
        assert response.json()["type"] == "urn:surge:problem:validation-error"
    naive = await surge.client.get(
        VISITS.format("fmt"), params={"from": "2026-01-01T00:00:00"}, headers=key
    )
    assert naive.status_code == 422


async def test_stats_as_csv_are_the_json_stats_with_every_value(
    surge: Surge, key: dict[str, str]
) -> None:
    link_id = await new_link(surge, key, "st")
    # Stats count from the link's creation on (a range is clamped to its lifetime).
    made = (await surge.links.get(None, "st")).created_at
    # Twelve referrers: the JSON lists the top 10, the CSV every one.
    events = [
        event(link_id, at=made, referrer=f"https://r{i}.example/", visitor=f"v{i}")
        for i in range(12)
    ]
    await ingested(surge, [*events, event(link_id, at=made, ua=BOT_UA)])
    params = {"from": (made - timedelta(days=1)).isoformat(), "interval": "hour"}
    stats = (await surge.client.get(f"{LINKS}/st/stats", params=params, headers=key)).json()
    response = await surge.client.get(
        f"{LINKS}/st/stats", params={**params, "format": "csv"}, headers=key
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"] == 'attachment; filename="st-stats.csv"'
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert list(rows[0]) == ["kind", "value", "clicks"]
    by_kind: dict[str, list[tuple[str, str]]] = {}
    for row in rows:
        by_kind.setdefault(row["kind"], []).append((row["value"], row["clicks"]))
    assert by_kind["total"] == [("", "12")]
    assert by_kind["bot_clicks"] == [("", "1")]
    assert by_kind["unique_visitors"] == [("", str(stats["unique_visitors"]))]
    assert by_kind["interval"] == [("hour", "")]
    series = [
        (datetime.fromisoformat(ts).astimezone(UTC), int(n)) for ts, n in by_kind["timeseries"]
    ]
    assert series == [
        (datetime.fromisoformat(p["ts"]).astimezone(UTC), p["clicks"]) for p in stats["timeseries"]
    ]
    assert len(stats["referrers"]) == 10
    assert sorted(v for v, _ in by_kind["referrers"]) == sorted(f"r{i}.example" for i in range(12))
    assert {v: int(n) for v, n in by_kind["browsers"]} == {
        b["value"]: b["clicks"] for b in stats["browsers"]
    }


async def test_analytics_away_is_a_503_before_and_a_cut_download_after_the_start(
    surge: Surge, key: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("surge.links.exports.EXPORT_CHUNK", 2)
    link_id = await new_link(surge, key, "away")
    await ingested(surge, [event(link_id, at=utc_now() - timedelta(seconds=i)) for i in range(5)])
    real_page = VisitPages.page
    pages_read = 0

    async def second_page_fails(self: VisitPages, *args: Any) -> Any:
        nonlocal pages_read
        pages_read += 1
        if pages_read > allowed:
            raise ANALYTICS_UNAVAILABLE("Analytics did not answer; try again shortly.")
        return await real_page(self, *args)

    monkeypatch.setattr(VisitPages, "page", second_page_fails)
    allowed = 0  # not even the first page: a problem answer, nothing downloaded
    refused = await surge.client.get(VISITS.format("away"), headers=key)
    assert refused.status_code == 503
    assert refused.json()["type"] == "urn:surge:problem:analytics-unavailable"
    # The first page is out when the second fails: the download is cut, never a file that
    # looks complete.
    pages_read, allowed = 0, 1
    with pytest.raises(DownloadCut):
        await surge.client.get(VISITS.format("away"), params={"format": "csv"}, headers=key)
