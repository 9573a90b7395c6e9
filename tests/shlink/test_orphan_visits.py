"""Shlink's orphan-visit endpoints against Surge, their answers read by the models written from
Shlink's OpenAPI description (surge.shlink.schemas: OrphanVisit, VisitStats)."""

from __future__ import annotations

from datetime import timedelta

from surge.platform.clock import utc_now
from surge.shlink.schemas import OrphanVisitsList, VisitsDeletion, VisitsOverview
from tests.conftest import Surge
from tests.helpers import BROWSER_UA, GOOGLEBOT, PUBLIC_URL
from tests.shlink.contract import REST, shlink_key, shlink_problem, valid

ORPHAN = f"{REST}/visits/orphan"


async def admin(surge: Surge) -> dict[str, str]:
    assert surge.api.keys is not None
    made = await surge.api.keys.create("admin", is_admin=True)
    return {"X-Api-Key": made.secret}


async def visit_orphans(surge: Surge) -> None:
    """A base URL visit, two invalid short URLs (one a bot's), a regular 404."""
    browser = {"User-Agent": BROWSER_UA, "Accept": "application/json", "Referer": "https://t.co/x"}
    await surge.client.get("/", headers=browser)
    await surge.client.get("/printed-typo", headers=browser)
    await surge.client.get("/printed-typo", headers={"User-Agent": GOOGLEBOT})
    await surge.client.get("/wp-admin/setup.php", headers=browser)
    await surge.flush_clicks()


async def test_orphan_visits_listed_as_shlink_lists_them(surge: Surge) -> None:
    key = await admin(surge)
    await visit_orphans(surge)
    found = valid(await surge.client.get(ORPHAN, headers=key), OrphanVisitsList).visits
    assert found.pagination.totalItems == 4
    assert {(v.type, v.visitedUrl, v.potentialBot) for v in found.data} == {
        ("base_url", f"{PUBLIC_URL}/", False),
        ("invalid_short_url", f"{PUBLIC_URL}/printed-typo", False),
        ("invalid_short_url", f"{PUBLIC_URL}/printed-typo", True),
        ("regular_404", f"{PUBLIC_URL}/wp-admin/setup.php", False),
    }
    human = next(v for v in found.data if v.type == "base_url")
    assert human.referer == "t.co"
    assert "Chrome" in human.userAgent
    dates = [v.date for v in found.data]
    assert dates == sorted(dates, reverse=True)  # newest first


async def test_orphan_visits_filters_and_pages(surge: Surge) -> None:
    key = await admin(surge)
    await visit_orphans(surge)
    get = surge.client.get

    async def listed(**params: str) -> OrphanVisitsList:
        return valid(await get(ORPHAN, headers=key, params=params), OrphanVisitsList)

    invalid = await listed(type="invalid_short_url")
    assert {v.type for v in invalid.visits.data} == {"invalid_short_url"}
    assert invalid.visits.pagination.totalItems == 2
    assert (
        await listed(type="invalid_short_url", excludeBots="true")
    ).visits.pagination.totalItems == 1
    paged = (await listed(itemsPerPage="3", page="2")).visits
    assert (len(paged.data), paged.pagination.pagesCount, paged.pagination.currentPage) == (1, 2, 2)
    assert (await listed(domain="DEFAULT")).visits.pagination.totalItems == 4
    assert (await listed(domain="elsewhere.example")).visits.pagination.totalItems == 0
    later = (utc_now() + timedelta(minutes=5)).isoformat()
    assert (await listed(startDate=later)).visits.pagination.totalItems == 0
    assert (await listed(endDate=later)).visits.pagination.totalItems == 4
    wrong = await get(ORPHAN, headers=key, params={"type": "everything"})
    assert shlink_problem(wrong, 400, "invalid-data")["invalidElements"] == ["type"]


async def test_overview_and_deletion_of_orphan_visits(surge: Surge) -> None:
    key = await admin(surge)
    await visit_orphans(surge)
    overview = valid(await surge.client.get(f"{REST}/visits", headers=key), VisitsOverview).visits
    assert overview.orphanVisits.model_dump() == {"total": 4, "nonBots": 3, "bots": 1}
    assert overview.orphanVisitsCount == 4
    deleted = valid(await surge.client.delete(ORPHAN, headers=key), VisitsDeletion)
    assert deleted.deletedVisits == 4
    assert valid(await surge.client.get(ORPHAN, headers=key), OrphanVisitsList).visits.data == []
    overview = valid(await surge.client.get(f"{REST}/visits", headers=key), VisitsOverview).visits
    assert overview.orphanVisits.total == 0


async def test_a_users_key_sees_and_deletes_no_orphan_visits(
    surge: Surge, key: dict[str, str]
) -> None:
    """As a Shlink key with the "No orphan visits" role: orphans belong to no user."""
    await visit_orphans(surge)
    user = shlink_key(key)
    listed = valid(await surge.client.get(ORPHAN, headers=user), OrphanVisitsList)
    assert listed.visits.pagination.totalItems == 0
    overview = valid(await surge.client.get(f"{REST}/visits", headers=user), VisitsOverview)
    assert overview.visits.orphanVisits.total == 0
    assert valid(await surge.client.delete(ORPHAN, headers=user), VisitsDeletion).deletedVisits == 0
    still = valid(await surge.client.get(ORPHAN, headers=await admin(surge)), OrphanVisitsList)
    assert still.visits.pagination.totalItems == 4
