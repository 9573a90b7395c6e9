"""The orphan-visits page (admins): totals, kinds, top paths and a chart of the visits that found
no link; deleting them after a confirmation (with the session's CSRF token); others refused."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import Surge, running_surge
from tests.helpers import BROWSER_UA, DASHBOARD_PASSWORD, dashboard_sign_in, make_settings

PAGE = "/app/admin/orphans"
VISITOR = {"user-agent": BROWSER_UA, "accept": "application/json"}


async def test_admins_see_orphan_visits_by_kind_and_path_and_delete_them(
    admin: tuple[Surge, str],
) -> None:
    surge, csrf = admin
    for path in ("/printed-typo", "/printed-typo", "/a/b", "/"):
        await surge.client.get(path, headers=VISITOR)
    await surge.flush_clicks()
    page = await surge.client.get(PAGE)
    assert page.status_code == 200
    assert 'href="/app/admin/orphans"' in page.text  # in the admin's nav
    assert '<span class="figure" id="orphan-total">4</span>' in page.text
    assert "<code>/printed-typo</code></th><td>2</td>" in page.text
    assert "invalid_short_url</span></th><td>2</td>" in page.text
    assert "http://sho.rt/a/b" in page.text  # the latest visits, as URLs
    chart = await surge.client.get(f"{PAGE}/chart.svg", params={"interval": "hour"})
    assert chart.status_code == 200
    assert chart.headers["content-type"] == "image/svg+xml"
    assert b"Orphan visits per hour" in chart.content

    confirm = await surge.client.get(f"{PAGE}/delete")
    assert "4 visits that found no link" in confirm.text
    refused = await surge.client.post(f"{PAGE}/delete", data={"csrf": "forged"})
    assert refused.status_code == 403
    assert '<span class="figure" id="orphan-total">4</span>' in (await surge.client.get(PAGE)).text
    deleted = await surge.client.post(f"{PAGE}/delete", data={"csrf": csrf})
    assert (deleted.status_code, deleted.headers["location"]) == (303, PAGE)
    after = await surge.client.get(PAGE)
    assert '<span class="figure" id="orphan-total">0</span>' in after.text


async def test_a_bad_range_is_said_on_the_page(admin: tuple[Surge, str]) -> None:
    surge, _ = admin
    page = await surge.client.get(PAGE, params={"from": "2026-01-10", "to": "2026-01-01"})
    assert page.status_code == 200
    assert 'id="orphans-problem"' in page.text


async def test_the_page_is_for_admins_only(tmp_path: Path) -> None:
    async with running_surge(make_settings(tmp_path)) as surge:
        assert surge.api.users is not None
        await surge.api.users.create("ada@example.com", password=DASHBOARD_PASSWORD)
        await dashboard_sign_in(surge.client, "ada@example.com")
        for path in (PAGE, f"{PAGE}/chart.svg", f"{PAGE}/delete"):
            answer = await surge.client.get(path)
            assert answer.status_code == 403
            assert "Admins only" in answer.text
        assert 'href="/app/admin/orphans"' not in (await surge.client.get("/app/links")).text
