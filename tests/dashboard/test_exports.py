"""A link's page offers its downloads (visits as CSV and JSON, stats as CSV) for the days it
shows, served with the signed-in session by the same service as the API's."""

from __future__ import annotations

import csv
import html
import io
import re
from datetime import timedelta

from surge.platform.clock import utc_now
from tests.conftest import Surge
from tests.helpers import DASHBOARD_PASSWORD, dashboard_sign_in, event

DOWNLOADS = ("download-visits-csv", "download-visits-json", "download-stats-csv")


def hrefs(page: str) -> dict[str, str]:
    found = {}
    for name in DOWNLOADS:
        match = re.search(rf'id="{name}" href="([^"]+)"', page)
        assert match, name
        found[name] = html.unescape(match.group(1))
    return found


async def test_the_downloads_of_a_links_page_are_its_visits_and_stats_for_the_days_shown(
    admin: tuple[Surge, str],
) -> None:
    surge, csrf = admin
    made = await surge.client.post(
        "/app/links/new", data={"csrf": csrf, "url": "https://example.com/d", "slug": "dl"}
    )
    assert made.status_code == 303
    link = await surge.links.get(None, "dl")
    today = utc_now().replace(hour=0, minute=0, second=0, microsecond=0)
    events = [event(link.id, at=today - timedelta(days=d), visitor=f"v{d}") for d in range(4)]
    assert surge.analytics.clicks is not None
    await surge.analytics.clicks.ingest(events)
    days = {"from": (today - timedelta(days=2)).date(), "to": (today - timedelta(days=1)).date()}

    page = await surge.client.get("/app/links/dl", params={**days, "interval": "day"})
    assert page.status_code == 200
    links = hrefs(page.text)
    assert "Download visits CSV" in page.text
    assert all(f"from={days['from']}" in href for href in links.values())

    shown = sorted(events[1:3], key=lambda e: e.ts)  # the two days chosen, whole
    visits = await surge.client.get(links["download-visits-json"])
    assert visits.status_code == 200
    assert visits.headers["content-disposition"] == 'attachment; filename="dl-visits.json"'
    assert [v["id"] for v in visits.json()] == [e.id for e in shown]
    as_csv = await surge.client.get(links["download-visits-csv"])
    assert as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert [r["id"] for r in rows] == [e.id for e in shown]
    stats = await surge.client.get(links["download-stats-csv"])
    assert stats.headers["content-disposition"] == 'attachment; filename="dl-stats.csv"'
    kinds = {r["kind"]: r for r in csv.DictReader(io.StringIO(stats.text))}
    assert kinds["interval"]["value"] == "day"

    # Without a range chosen: every visit.
    everything = await surge.client.get(
        hrefs((await surge.client.get("/app/links/dl")).text)["download-visits-json"]
    )
    assert len(everything.json()) == 4

    # Another user does not get them.
    assert surge.api.users is not None
    await surge.api.users.create("eve@example.com", password=DASHBOARD_PASSWORD)
    surge.client.cookies.clear()
    await dashboard_sign_in(surge.client, "eve@example.com")
    for href in links.values():
        refused = await surge.client.get(href)
        assert refused.status_code == 404, href
        assert "text/html" in refused.headers["content-type"]
    # Nor does anyone signed out.
    surge.client.cookies.clear()
    signed_out = await surge.client.get(links["download-visits-csv"])
    assert signed_out.status_code in (303, 307)
