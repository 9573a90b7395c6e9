"""The domains page (admins): list, add, change a domain's redirects, remove one; bad input shows
the form again and changes nothing; a domain with links stays; others are refused."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import Surge, running_surge
from tests.helpers import (
    BROWSER_UA,
    DASHBOARD_PASSWORD,
    csrf_of,
    dashboard_sign_in,
    make_settings,
    wait_for,
)

PAGE = "/app/admin/domains"
GO = "go.example.com"


def browser_on(host: str) -> dict[str, str]:
    return {"host": host, "user-agent": BROWSER_UA}


async def hosts(surge: Surge) -> list[str]:
    assert surge.api.domains is not None
    return [d.host for d in await surge.api.domains.all()]


async def goes_to(surge: Surge, host: str, path: str, location: str) -> None:
    """Wait until `path` on `host` redirects to `location` (with Redis, a change reaches the
    redirect's cache a moment after the page answered)."""

    async def check() -> bool:
        answer = await surge.client.get(path, headers=browser_on(host))
        return answer.status_code == 302 and answer.headers["location"] == location

    await wait_for(check, timeout_s=5.0, what=f"{host}{path} to go to {location}")


async def test_admins_add_change_and_remove_a_domain(admin: tuple[Surge, str]) -> None:
    surge, csrf = admin
    page = await surge.client.get(PAGE)
    assert page.status_code == 200
    assert 'href="/app/admin/domains"' in page.text  # the admin's nav has it
    assert 'id="domain-sho.rt"' in page.text
    assert "/app/admin/domains/sho.rt/remove" not in page.text  # the default stays

    added = await surge.client.post(
        PAGE, data={"csrf": csrf, "host": "Go.Example.com", "root_url": "https://example.com/"}
    )
    assert added.status_code == 303
    assert added.headers["location"] == PAGE
    assert await hosts(surge) == ["sho.rt", GO]  # the default first, the name as a host
    listed = await surge.client.get(PAGE)
    assert listed.text.index('id="domain-sho.rt"') < listed.text.index(f'id="domain-{GO}"')
    assert f"/app/admin/domains/{GO}/remove" in listed.text
    await goes_to(surge, GO, "/", "https://example.com/")

    changed = await surge.client.post(
        f"{PAGE}/{GO}/redirects",
        data={"csrf": csrf, "root_url": "", "not_found_url": "https://example.com/404"},
    )
    assert changed.status_code == 303
    await goes_to(surge, GO, "/no-such-slug", "https://example.com/404")
    shown = await surge.client.get(PAGE)
    assert 'value="https://example.com/404"' in shown.text
    assert 'value="https://example.com/"' not in shown.text  # the root redirect was cleared

    removed = await surge.client.post(f"{PAGE}/{GO}/remove", data={"csrf": csrf})
    assert removed.status_code == 303
    assert await hosts(surge) == ["sho.rt"]
    assert f'id="domain-{GO}"' not in (await surge.client.get(PAGE)).text


async def test_bad_input_shows_the_form_again_and_changes_nothing(
    admin: tuple[Surge, str],
) -> None:
    surge, csrf = admin
    bad_name = await surge.client.post(
        PAGE, data={"csrf": csrf, "host": "not a domain", "root_url": "https://example.com/r"}
    )
    assert bad_name.status_code == 422
    assert "is not a domain name" in bad_name.text
    assert 'value="not a domain"' in bad_name.text  # the form as it was sent
    assert 'value="https://example.com/r"' in bad_name.text
    bad_url = await surge.client.post(
        PAGE, data={"csrf": csrf, "host": GO, "expired_url": "ftp://example.com/"}
    )
    assert bad_url.status_code == 422
    assert "Where an expired link goes: only http(s) URLs" in bad_url.text
    default = await surge.client.post(PAGE, data={"csrf": csrf, "host": "SHO.RT"})
    assert default.status_code == 409
    assert "is the default domain" in default.text
    assert await hosts(surge) == ["sho.rt"]

    assert (await surge.client.post(PAGE, data={"csrf": csrf, "host": GO})).status_code == 303
    again = await surge.client.post(PAGE, data={"csrf": csrf, "host": GO})
    assert again.status_code == 409
    assert f"There is already a domain {GO}." in again.text

    refused = await surge.client.post(
        f"{PAGE}/{GO}/redirects", data={"csrf": csrf, "root_url": "javascript:alert(1)"}
    )
    assert refused.status_code == 422
    assert "Where / goes: only http(s) URLs" in refused.text
    assert 'value="javascript:alert(1)"' in refused.text
    assert surge.api.domains is not None
    assert (await surge.api.domains.get(GO)).redirects.root_url is None
    unknown = await surge.client.post(f"{PAGE}/no.example.com/redirects", data={"csrf": csrf})
    assert unknown.status_code == 404


async def test_a_domain_that_links_still_use_is_not_removed(admin: tuple[Surge, str]) -> None:
    surge, csrf = admin
    await surge.client.post(PAGE, data={"csrf": csrf, "host": GO, "root_url": "https://e.com/"})
    link = {"csrf": csrf, "url": "https://example.com/a", "slug": "there", "domain": GO}
    assert (await surge.client.post("/app/links/new", data=link)).status_code == 303
    refused = await surge.client.post(f"{PAGE}/{GO}/remove", data={"csrf": csrf})
    assert refused.status_code == 409
    assert f"{GO} still has 1 link(s): delete or move them first." in refused.text
    assert 'role="alert"' in refused.text
    assert 'value="https://e.com/"' in refused.text  # its redirects as they are
    assert await hosts(surge) == ["sho.rt", GO]


async def test_domain_changes_need_the_sessions_csrf_token(admin: tuple[Surge, str]) -> None:
    surge, csrf = admin
    forged = await surge.client.post(PAGE, data={"host": GO})
    assert forged.status_code == 403
    wrong = await surge.client.post(PAGE, data={"csrf": csrf + "x", "host": GO})
    assert wrong.status_code == 403
    assert await hosts(surge) == ["sho.rt"]


async def test_the_domains_page_is_for_admins_only(tmp_path: Path) -> None:
    async with running_surge(make_settings(tmp_path)) as surge:
        assert surge.api.users is not None
        await surge.api.users.create("plain@example.com", password=DASHBOARD_PASSWORD)
        csrf = await dashboard_sign_in(surge.client, "plain@example.com")
        links = await surge.client.get("/app/links")
        assert PAGE not in links.text  # no nav link to a page they cannot use
        page = await surge.client.get(PAGE)
        assert page.status_code == 403
        assert "Admins only" in page.text
        assert csrf_of(page) == csrf  # still signed in, with the nav of their own pages
        for path in (PAGE, f"{PAGE}/sho.rt/remove", f"{PAGE}/sho.rt/redirects"):
            refused = await surge.client.post(path, data={"csrf": csrf, "host": GO})
            assert refused.status_code == 403, path
        assert await hosts(surge) == ["sho.rt"]
        assert re.search(r"<h1>Admins only</h1>", page.text)
