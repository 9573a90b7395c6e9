"""The clicks a link brought from its old shortener, as users of the stats and of click limits
see them: added to any range that includes the link's creation, and counted by `max_clicks`."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from surge.accounts.users import UserService
from surge.transfer.service import TransferService
from tests.conftest import Surge
from tests.helpers import BROWSER_UA


@pytest.mark.calendar
async def test_stats_add_the_imported_count_and_limits_count_it(
    surge: Surge, now: datetime
) -> None:
    sessions = surge.links.sessions
    made = await UserService(sessions).create("ada@example.com", password="p" * 12)
    assert surge.api.keys is not None
    key = await surge.api.keys.create("ada", user_id=made.user.id)
    headers = {"Authorization": f"Bearer {key.secret}"}
    created = (now - timedelta(days=30)).replace(microsecond=0)
    csv = (
        "slug,url,redirect_type,expires_at,max_clicks,tags,created_at,clicks,bot_clicks,owner\n"
        f"moved,https://example.com/moved,302,,,,{created.isoformat()},100,4,\n"
        f"spent,https://example.com/spent,302,,5,,{created.isoformat()},5,0,\n"
    )
    summary = await TransferService(sessions, surge.settings).import_links(
        "csv", csv, owner_email=made.user.email
    )
    assert summary.imported == 2

    click = await surge.client.get("/moved", headers={"User-Agent": BROWSER_UA})
    assert click.status_code == 302
    since = {"from": (created - timedelta(days=1)).isoformat(), "interval": "day"}
    everything = await surge.stats("moved", headers, **since)
    assert (everything["total"], everything["bot_clicks"]) == (101, 4)
    assert sum(point["clicks"] for point in everything["timeseries"]) == 1  # no invented dates
    recent = await surge.stats("moved", headers)  # the last 7 days: after the link's creation
    assert (recent["total"], recent["bot_clicks"]) == (1, 0)

    # Five clicks before the move use up a limit of five: the link has expired here too.
    assert (await surge.client.get("/spent", headers={"User-Agent": BROWSER_UA})).status_code == 410


async def test_shlink_clients_see_the_imported_visits_too(surge: Surge) -> None:
    sessions = surge.links.sessions
    made = await UserService(sessions).create("bo@example.com", password="p" * 12)
    assert surge.api.keys is not None
    key = await surge.api.keys.create("bo", user_id=made.user.id)
    csv = (
        "slug,url,redirect_type,expires_at,max_clicks,tags,created_at,clicks,bot_clicks,owner\n"
        "kept,https://example.com/kept,302,,,,2025-01-01T00:00:00+00:00,40,2,\n"
    )
    await TransferService(sessions, surge.settings).import_links(
        "csv", csv, owner_email=made.user.email
    )
    assert (await surge.client.get("/kept", headers={"User-Agent": BROWSER_UA})).status_code == 302
    await surge.flush_clicks()
    answer = await surge.client.get("/rest/v3/short-urls/kept", headers={"X-Api-Key": key.secret})
    assert answer.status_code == 200, answer.text
    assert answer.json()["visitsSummary"] == {"total": 43, "nonBots": 41, "bots": 2}
