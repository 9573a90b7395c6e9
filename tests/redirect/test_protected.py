"""Password-protected links: a form for browsers, 401 for everyone else, a cookie for that
link alone after the right password, attempts limited, a click only when a redirect happens,
and the target never shared through Redis."""

from __future__ import annotations

import httpx
import pytest

from surge.data.contracts import link_key
from tests.conftest import Surge
from tests.helpers import BROWSER_UA, LINKS, assert_problem, wait_for

BROWSER = {"accept": "text/html,application/xhtml+xml", "user-agent": BROWSER_UA}
FORM = {**BROWSER, "content-type": "application/x-www-form-urlencoded"}


async def protect(
    surge: Surge, key: dict[str, str], slug: str, password: str, **more: object
) -> None:
    body = {"url": f"https://example.com/{slug}", "slug": slug, "password": password, **more}
    answer = await surge.client.post(LINKS, json=body, headers=key)
    assert answer.status_code == 201, answer.text
    assert answer.json()["password_protected"] is True
    assert "password" not in answer.json()


async def send_password(surge: Surge, path: str, password: str) -> httpx.Response:
    surge.client.cookies.clear()  # each visitor's cookies are its own
    return await surge.client.post(path, content=f"password={password}", headers=FORM)


def unlock_cookie(answer: httpx.Response) -> str:
    """The cookie the answer sets, as a browser would send it back."""
    set_cookie = answer.headers["set-cookie"]
    surge_cookie = set_cookie.split(";", 1)[0]
    assert surge_cookie.startswith("surge_unlock=")
    return surge_cookie


async def test_a_browser_gets_the_form_and_other_clients_a_401(
    surge: Surge, key: dict[str, str]
) -> None:
    await protect(surge, key, "secret", "hunter22")
    page = await surge.client.get("/secret", headers=BROWSER)
    assert page.status_code == 401
    assert page.headers["content-type"].startswith("text/html")
    assert "https://example.com/secret" not in page.text  # never the target
    assert '<label for="password">' in page.text
    assert 'id="password"' in page.text
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp
    assert "form-action 'self'" in csp
    assert page.headers["cache-control"] == "private, max-age=0"

    api = await surge.client.get("/secret", headers={"accept": "application/json"})
    assert_problem(api, 401, "password-required")
    assert "location" not in api.headers
    head = await surge.client.head("/secret", headers=BROWSER)
    assert head.status_code == 401
    assert "location" not in head.headers
    assert (await surge.stats("secret", key))["total"] == 0  # refusals are no clicks


async def test_the_right_password_opens_that_link_only_and_counts_each_redirect(
    surge: Surge, key: dict[str, str]
) -> None:
    await protect(surge, key, "vault", "hunter22")
    await protect(surge, key, "other", "hunter22")  # the same password on another link

    wrong = await send_password(surge, "/vault", "guess")
    assert wrong.status_code == 401
    assert "Wrong password" in wrong.text
    assert "location" not in wrong.headers
    opened = await send_password(surge, "/vault?utm_source=mail", "hunter22")
    assert opened.status_code == 303
    assert opened.headers["location"] == "https://example.com/vault?utm_source=mail"
    set_cookie = opened.headers["set-cookie"]
    assert "Path=/vault;" in set_cookie
    assert "HttpOnly" in set_cookie
    assert "SameSite=Lax" in set_cookie
    assert "Domain" not in set_cookie

    cookie = {"cookie": unlock_cookie(opened)}
    surge.client.cookies.clear()
    again = await surge.client.get("/vault", headers={**BROWSER, **cookie})
    assert again.status_code == 302
    assert again.headers["location"] == "https://example.com/vault"
    elsewhere = await surge.client.get("/other", headers={**BROWSER, **cookie})
    assert elsewhere.status_code == 401  # that cookie opens /vault alone
    forged = {"cookie": cookie["cookie"][:-4] + "0000"}
    assert (await surge.client.get("/vault", headers={**BROWSER, **forged})).status_code == 401

    stats = await surge.stats("vault", key)
    assert stats["total"] == 2  # the 303 after the password and the 302 with the cookie
    assert (await surge.stats("other", key))["total"] == 0


async def test_a_new_password_voids_the_cookies_of_the_old_and_null_removes_it(
    surge: Surge, key: dict[str, str]
) -> None:
    await protect(surge, key, "rotate", "first-one")
    cookie = {"cookie": unlock_cookie(await send_password(surge, "/rotate", "first-one"))}
    surge.client.cookies.clear()
    changed = await surge.client.patch(
        f"{LINKS}/rotate", json={"password": "second-one"}, headers=key
    )
    assert changed.json()["password_protected"] is True

    async def voided() -> bool:
        answer = await surge.client.get("/rotate", headers={**BROWSER, **cookie})
        return answer.status_code == 401

    await wait_for(voided, timeout_s=5.0, what="the old cookie to stop opening the link")
    removed = await surge.client.patch(f"{LINKS}/rotate", json={"password": None}, headers=key)
    assert removed.json()["password_protected"] is False

    async def open_to_all() -> bool:
        return (await surge.client.get("/rotate")).status_code == 302

    await wait_for(open_to_all, timeout_s=5.0, what="the link without its password")


async def test_password_attempts_are_limited_per_address_and_link(
    surge: Surge, key: dict[str, str]
) -> None:
    await protect(surge, key, "brute", "hunter22")
    await protect(surge, key, "brute2", "hunter22")
    for attempt in range(5):  # SURGE_RATE_LIMIT_LINK_PASSWORD_PER_IP: 5/minute
        answer = await send_password(surge, "/brute", f"guess{attempt}")
        assert answer.status_code == 401, attempt
    blocked = await send_password(surge, "/brute", "hunter22")  # even the right one, now
    assert blocked.status_code == 429
    assert int(blocked.headers["retry-after"]) >= 1
    assert "location" not in blocked.headers
    assert "set-cookie" not in blocked.headers
    assert "Too many attempts" in blocked.text
    # Another link from the same address has its own budget.
    assert (await send_password(surge, "/brute2", "hunter22")).status_code == 303
    api = await surge.client.post(
        "/brute", content="password=x", headers={"content-type": FORM["content-type"]}
    )
    assert_problem(api, 429, "rate-limited")


async def test_posting_to_a_link_without_a_password_is_405(
    surge: Surge, key: dict[str, str]
) -> None:
    await surge.client.post(
        LINKS, json={"url": "https://example.com/", "slug": "open"}, headers=key
    )
    answer = await surge.client.post("/open", content="password=x", headers=FORM)
    assert answer.status_code == 405
    assert (await surge.client.post("/nope", content="password=x", headers=FORM)).status_code == 404


@pytest.mark.parametrize("backend", ["production"], indirect=True)  # the Redis tier
async def test_the_target_of_a_protected_link_stays_out_of_redis(
    surge: Surge, key: dict[str, str]
) -> None:
    assert surge.redirect.shared is not None
    await protect(surge, key, "hidden", "hunter22")
    await surge.client.post(
        LINKS, json={"url": "https://example.com/", "slug": "shown"}, headers=key
    )
    assert (await surge.client.get("/hidden", headers=BROWSER)).status_code == 401
    assert (await surge.client.get("/shown")).status_code == 302
    redis, names = surge.redirect.shared.redis, surge.redirect.shared.names
    assert await redis.get(names.link(link_key("", "shown"))) is not None
    assert await redis.get(names.link(link_key("", "hidden"))) is None
