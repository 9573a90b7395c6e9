"""A link's redirect rules on its dashboard page: added, moved and removed through LinkService
(the redirect follows at once), refused with the API's reasons and nothing changed, and a
request tested against them answering as the redirect itself does."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from surge.dashboard.rules import CONDITIONS
from surge.data.rules import CONDITION_TYPES
from surge.domains.repository import DomainRedirects
from surge.links.schemas import LinkCreate
from tests.conftest import Surge, running_surge
from tests.helpers import (
    BROWSER_UA,
    DASHBOARD_PASSWORD,
    IPHONE,
    dashboard_sign_in,
    make_settings,
    wait_for,
)

LINK = "/app/links/sale"
ANDROID = "Mozilla/5.0 (Linux; Android 14; Pixel 8) Chrome/126.0.0.0 Mobile Safari/537.36"


def rule(url: str, *conditions: tuple[str, str, str]) -> dict[str, str]:
    """The add form's fields: a target and condition rows (type, key, value)."""
    form = {"url": url}
    for row, (kind, key, value) in enumerate(conditions):
        form |= {f"type-{row}": kind, f"key-{row}": key, f"value-{row}": value}
    return form


def rules_on(page: httpx.Response) -> list[str]:
    """The targets of the rules a link's page lists, in order."""
    return re.findall(r'<a href="([^"]+)" rel="noopener noreferrer" class="target">', page.text)


def digest_of(page: httpx.Response) -> str:
    found = re.search(r'name="digest" value="([0-9a-f]+)"', page.text)
    assert found is not None
    return found.group(1)


async def stored(surge: Surge) -> list[str]:
    return [r.url for r in (await surge.links.get(None, "sale")).values.rules]


async def goes_to(surge: Surge, location: str, **headers: str) -> None:
    async def check() -> bool:
        answer = await surge.client.get("/sale", headers=headers)
        return answer.headers.get("location") == location

    await wait_for(check, timeout_s=5.0, what=f"/sale to go to {location}")


@pytest.fixture
async def sale(admin: tuple[Surge, str]) -> tuple[Surge, str]:
    surge, csrf = admin
    # As a browser sends the form: the query-forwarding box is ticked by default.
    form = {"csrf": csrf, "url": "https://example.com/sale", "slug": "sale", "forward_query": "on"}
    assert (await surge.client.post("/app/links/new", data=form)).status_code == 303
    return surge, csrf


def test_every_condition_type_has_its_label_and_wording() -> None:
    assert list(CONDITIONS) == list(CONDITION_TYPES)


async def test_rules_are_added_moved_and_removed_and_the_redirect_follows(
    sale: tuple[Surge, str],
) -> None:
    surge, csrf = sale
    page = await surge.client.get(LINK)
    assert "No rules: every request goes to https://example.com/sale" in page.text
    android = rule("https://example.com/android", ("device", "", "android"))
    added = await surge.client.post(f"{LINK}/rules", data={"csrf": csrf, **android})
    assert added.status_code == 303
    assert added.headers["location"] == f"{LINK}#rules"
    german = rule("https://example.com/de", ("language", "", "de"), ("query-param", "src", "news"))
    assert (await surge.client.post(f"{LINK}/rules", data={"csrf": csrf, **german})).is_redirect
    page = await surge.client.get(LINK)
    assert rules_on(page) == ["https://example.com/android", "https://example.com/de"]
    assert "when accepts language de and query parameter src is news" in page.text
    await goes_to(surge, "https://example.com/android", **{"user-agent": ANDROID})

    both = {"user-agent": ANDROID, "accept-language": "de-AT,de;q=0.9"}
    moved = await surge.client.post(
        f"{LINK}/rules/1/up", data={"csrf": csrf, "digest": digest_of(page)}
    )
    assert moved.status_code == 303
    assert await stored(surge) == ["https://example.com/de", "https://example.com/android"]
    await goes_to(surge, "https://example.com/android", **both)  # no ?src=news: rule 2
    answer = await surge.client.get("/sale?src=news", headers=both)
    assert answer.headers["location"] == "https://example.com/de?src=news"  # query forwarded

    page = await surge.client.get(LINK)
    removed = await surge.client.post(
        f"{LINK}/rules/1/remove", data={"csrf": csrf, "digest": digest_of(page)}
    )
    assert removed.status_code == 303
    assert await stored(surge) == ["https://example.com/de"]
    await goes_to(surge, "https://example.com/sale", **{"user-agent": ANDROID})


async def test_an_invalid_rule_shows_why_and_changes_nothing(sale: tuple[Surge, str]) -> None:
    surge, csrf = sale
    keep = rule("https://example.com/ios", ("device", "", "ios"))
    await surge.client.post(f"{LINK}/rules", data={"csrf": csrf, **keep})
    cases = [
        (rule("https://example.com/x", ("device", "", "fridge")), "Condition 1: device is one of"),
        (
            rule("https://example.com/x", ("device", "", "ios"), ("ip-address", "", "10.0.0.0/40")),
            "Condition 2: ip-address is an address, a CIDR block",
        ),
        (rule("https://example.com/x", ("query-param", "", "x")), "names its query parameter"),
        (rule("https://example.com/x", ("teleport", "", "x")), "Condition 1: type: Input should"),
        (rule("https://example.com/x"), "A rule needs at least one condition."),
        (rule("ftp://example.com/x", ("device", "", "ios")), "Rule 2&#39;s target URL: only"),
        (rule("http://sho.rt/loop", ("device", "", "ios")), "rules[1].url:"),  # Surge's own domain
    ]
    for form, reason in cases:
        refused = await surge.client.post(f"{LINK}/rules", data={"csrf": csrf, **form})
        assert refused.status_code == 422, (form, refused.text[-3000:])
        assert reason in refused.text, (reason, re.findall(r"<li>.*?</li>", refused.text))
        assert 'role="alert" id="rule-errors"' in refused.text
        assert f'value="{form["url"]}"' in refused.text  # the form as it was sent
    assert await stored(surge) == ["https://example.com/ios"]


async def test_a_change_by_position_on_a_stale_page_is_refused(sale: tuple[Surge, str]) -> None:
    surge, csrf = sale
    for target in ("https://example.com/1", "https://example.com/2"):
        form = rule(target, ("device", "", "ios"))
        await surge.client.post(f"{LINK}/rules", data={"csrf": csrf, **form})
    seen = digest_of(await surge.client.get(LINK))
    first = await surge.client.post(f"{LINK}/rules/0/remove", data={"csrf": csrf, "digest": seen})
    assert first.status_code == 303
    again = await surge.client.post(f"{LINK}/rules/0/remove", data={"csrf": csrf, "digest": seen})
    assert again.status_code == 409  # the tab still showed rule 1 as the one it removed
    assert "The rules changed since this page was shown" in again.text
    assert await stored(surge) == ["https://example.com/2"]
    fresh = digest_of(again)
    beyond = await surge.client.post(f"{LINK}/rules/5/remove", data={"csrf": csrf, "digest": fresh})
    assert beyond.status_code == 404


async def test_rule_changes_need_the_sessions_csrf_token_and_the_link(
    sale: tuple[Surge, str],
) -> None:
    surge, _ = sale
    form = rule("https://example.com/ios", ("device", "", "ios"))
    assert (await surge.client.post(f"{LINK}/rules", data=form)).status_code == 403
    forged = await surge.client.post(f"{LINK}/rules", data={"csrf": "forged", **form})
    assert forged.status_code == 403
    assert await stored(surge) == []

    assert surge.api.users is not None
    await surge.api.users.create("eve@example.com", password=DASHBOARD_PASSWORD)
    surge.client.cookies.clear()
    eves = await dashboard_sign_in(surge.client, "eve@example.com")
    # Another user's link is not there for them: not to change, not to test.
    assert (
        await surge.client.post(f"{LINK}/rules", data={"csrf": eves, **form})
    ).status_code == 404
    assert (await surge.client.get(f"{LINK}/preview")).status_code == 404
    assert await stored(surge) == []


async def test_the_tester_answers_as_the_redirect_does(tmp_path: Path) -> None:
    async with running_surge(make_settings(tmp_path)) as surge:
        assert surge.api.users is not None
        made = await surge.api.users.create("ada@example.com", password=DASHBOARD_PASSWORD)
        rules = [
            {"url": "https://e.com/ios", "conditions": [{"type": "device", "value": "ios"}]},
            {
                "url": "https://e.com/fr-office",
                "conditions": [
                    {"type": "geolocation-country-code", "value": "FR"},
                    {"type": "ip-address", "value": "198.51.100.0/24"},
                ],
            },
            {
                "url": "https://e.com/beta",
                "conditions": [{"type": "valueless-query-param", "key": "beta"}],
            },
            {"url": "https://e.com/de", "conditions": [{"type": "language", "value": "de"}]},
        ]
        body = LinkCreate.model_validate({"url": "https://e.com/", "slug": "sale", "rules": rules})
        await surge.links.create(made.user.id, body)
        await dashboard_sign_in(surge.client, "ada@example.com")

        # The form starts from the request of the person looking at it.
        mine = {"user-agent": BROWSER_UA, "accept-language": "fr-CH, fr;q=0.9"}
        page = await surge.client.get(LINK, headers=mine)
        assert f'id="test-ua" name="ua" maxlength="2048" value="{BROWSER_UA}"' in page.text
        assert 'value="fr-CH, fr;q=0.9"' in page.text

        requests = [
            ({"ua": IPHONE}, "https://e.com/ios", "rule 1 matches"),
            (
                {"ua": BROWSER_UA, "country": "fr", "ip": "198.51.100.9"},
                "https://e.com/fr-office",
                "rule 2",
            ),
            ({"ua": BROWSER_UA, "country": "FR", "ip": "203.0.113.9"}, "https://e.com/", "no rule"),
            # The visitor's query is forwarded to the target (the link's default).
            ({"ua": BROWSER_UA, "query": "?beta&x=1"}, "https://e.com/beta?beta&x=1", "rule 3"),
            ({"ua": BROWSER_UA, "language": "de-AT,de;q=0.9"}, "https://e.com/de", "rule 4"),
            (
                {"ua": BROWSER_UA, "language": "en", "query": "beta=yes"},
                "https://e.com/?beta=yes",
                "no rule",
            ),
        ]
        for asked, target, which in requests:
            tested = await surge.client.get(f"{LINK}/preview", params=asked)
            assert tested.status_code == 200
            answer = re.search(r'id="preview-result">(.*?)</p>', tested.text, re.S)
            assert answer is not None, asked
            shown = target.replace("&", "&amp;")
            assert f'This request would go to <a href="{shown}"' in answer.group(1), asked
            assert which in answer.group(1), (asked, answer.group(1))
            # The redirect itself, sent the same request.
            headers = {
                "user-agent": asked["ua"],
                "accept-language": asked.get("language", ""),
                "cf-ipcountry": asked.get("country", ""),
                "x-test-client-ip": asked.get("ip", "192.0.2.1"),
            }
            query = asked.get("query", "").removeprefix("?")
            redirected = await surge.client.get(f"/sale?{query}", headers=headers)
            assert redirected.headers["location"] == target, asked


async def test_the_tester_takes_a_time_and_says_when_the_link_has_expired(
    admin: tuple[Surge, str],
) -> None:
    surge, csrf = admin
    form = {"csrf": csrf, "url": "https://e.com/", "slug": "sale", "expires_at": "2031-01-01T00:00"}
    assert (await surge.client.post("/app/links/new", data=form)).status_code == 303
    later = rule("https://e.com/late", ("after-date", "", "2030-06-01T00:00"))
    assert (await surge.client.post(f"{LINK}/rules", data={"csrf": csrf, **later})).is_redirect
    assert "when after 2030-06-01T00:00:00Z" in (await surge.client.get(LINK)).text

    before = await surge.client.get(f"{LINK}/preview", params={"at": "2030-05-31T23:59"})
    assert "no rule matches" in before.text
    after = await surge.client.get(f"{LINK}/preview", params={"at": "2030-06-01T00:01"})
    assert 'would go to <a href="https://e.com/late"' in after.text
    assert "expired" not in after.text
    gone = await surge.client.get(f"{LINK}/preview", params={"at": "2031-01-01T00:00"})
    assert "But the link has expired by then (2031-01-01 00:00 UTC)" in gone.text
    bad = await surge.client.get(f"{LINK}/preview", params={"at": "next tuesday"})
    assert bad.status_code == 422
    assert "Time: a date and time such as" in bad.text
    assert 'id="preview-result"' not in bad.text


async def test_rules_of_a_link_on_another_domain_are_changed_and_tested_there(
    admin: tuple[Surge, str],
) -> None:
    surge, csrf = admin
    assert surge.api.domains is not None
    await surge.api.domains.add("go.example.com", DomainRedirects())
    for url in ("https://e.com/home", "https://e.com/away"):  # the same slug on both domains
        form = {"csrf": csrf, "url": url, "slug": "sale"}
        if url.endswith("away"):
            form["domain"] = "go.example.com"
        assert (await surge.client.post("/app/links/new", data=form)).status_code == 303
    there = f"{LINK}?domain=go.example.com"
    for target in ("https://e.com/1", "https://e.com/2"):
        form = {"csrf": csrf, **rule(target, ("device", "", "ios"))}
        added = await surge.client.post(f"{LINK}/rules?domain=go.example.com", data=form)
        assert added.headers["location"] == f"{there}#rules"
    page = await surge.client.get(there)
    assert f'action="{LINK}/rules/1/up?domain=go.example.com#rules"' in page.text
    assert '<input type="hidden" name="domain" value="go.example.com">' in page.text  # tester
    moved = await surge.client.post(
        f"{LINK}/rules/1/up?domain=go.example.com", data={"csrf": csrf, "digest": digest_of(page)}
    )
    assert moved.status_code == 303
    away = await surge.links.get(None, "sale", "go.example.com")
    assert [r.url for r in away.values.rules] == ["https://e.com/2", "https://e.com/1"]
    assert await stored(surge) == []  # the link on the default domain has none
    tested = await surge.client.get(
        f"{LINK}/preview", params={"domain": "go.example.com", "ua": IPHONE}
    )
    assert 'would go to <a href="https://e.com/2"' in tested.text
