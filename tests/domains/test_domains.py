"""Short domains as users and operators rely on them: the same slug on two domains goes to two
targets; each domain's root, not-found and expired redirects; unknown Hosts; admins' changes."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest

from surge.domains.hosts import host_of, normalize_host
from tests.conftest import Surge, running_surge
from tests.helpers import BROWSER_UA, INTERNAL_TOKEN, PROBLEM_JSON, make_settings, wait_for

GO = "go.example.com"
DOMAINS = "/api/v1/domains"
LINKS = "/api/v1/links"


async def admin(surge: Surge) -> dict[str, str]:
    assert surge.api.keys is not None
    key = await surge.api.keys.create("admin", is_admin=True)
    return {"Authorization": f"Bearer {key.secret}"}


def on(host: str, **headers: str) -> dict[str, str]:
    return {"host": host, "user-agent": BROWSER_UA, **headers}


async def answers(surge: Surge, path: str, headers: dict[str, str], status: int) -> None:
    """Wait until `path` answers `status`: with Redis, a change reaches the redirect's cache
    through pub/sub, a moment after the API call returned."""

    async def check() -> bool:
        return (await surge.client.get(path, headers=headers)).status_code == status

    await wait_for(check, timeout_s=5.0, what=f"{path} on {headers.get('host')} to be {status}")


@pytest.mark.parametrize(
    ("header", "host"),
    [
        ("Go.Example.COM", GO),
        ("go.example.com:8443", GO),
        ("go.example.com.", GO),
        ("[::1]:8000", "::1"),
        ("", ""),
    ],
)
def test_a_host_header_is_normalised(header: str, host: str) -> None:
    assert host_of(header) == host


def test_host_names_are_checked_and_idns_become_punycode() -> None:
    assert normalize_host("Bücher.Example:80") == "xn--bcher-kva.example"
    for bad in ("localhost", "-a.example", "a_b.example", "a..example", "x" * 64 + ".example"):
        with pytest.raises(ValueError, match="not a"):
            normalize_host(bad)


async def test_the_same_slug_on_two_domains_goes_to_two_targets(surge: Surge) -> None:
    headers = await admin(surge)
    added = await surge.client.post(DOMAINS, json={"host": "Go.Example.com:443"}, headers=headers)
    assert added.status_code == 201, added.text
    assert added.json()["host"] == GO
    home = await surge.client.post(
        LINKS, json={"url": "https://example.com/home", "slug": "promo"}, headers=headers
    )
    away = await surge.client.post(
        LINKS,
        json={"url": "https://example.org/away", "slug": "promo", "domain": GO},
        headers=headers,
    )
    assert (home.status_code, away.status_code) == (201, 201), away.text
    assert (home.json()["domain"], home.json()["short_url"]) == ("sho.rt", "http://sho.rt/promo")
    assert (away.json()["domain"], away.json()["short_url"]) == (GO, f"http://{GO}/promo")

    default = await surge.client.get("/promo", headers=on("sho.rt"))
    custom = await surge.client.get("/promo", headers=on(f"{GO.upper()}:8080"))
    assert default.headers["location"] == "https://example.com/home"
    assert custom.headers["location"] == "https://example.org/away"

    again = await surge.client.post(
        LINKS, json={"url": "https://e.com", "slug": "promo", "domain": GO}, headers=headers
    )
    assert again.status_code == 409
    listed = await surge.client.get(LINKS, params={"domain": GO}, headers=headers)
    assert [link["url"] for link in listed.json()["items"]] == ["https://example.org/away"]
    one = await surge.client.get(f"{LINKS}/promo", params={"domain": GO}, headers=headers)
    assert one.json()["url"] == "https://example.org/away"

    # Each link counts its own clicks.
    stats = await surge.stats("promo", headers, domain=GO)
    assert stats["total"] == 1


async def test_a_link_moved_to_another_domain_leaves_the_first(surge: Surge) -> None:
    headers = await admin(surge)
    await surge.client.post(DOMAINS, json={"host": GO}, headers=headers)
    await surge.client.post(LINKS, json={"url": "https://e.com/m", "slug": "m"}, headers=headers)
    assert (await surge.client.get("/m", headers=on("sho.rt"))).status_code == 302
    moved = await surge.client.patch(f"{LINKS}/m", json={"domain": GO}, headers=headers)
    assert moved.status_code == 200, moved.text
    assert moved.json()["short_url"] == f"http://{GO}/m"
    await answers(surge, "/m", on("sho.rt"), 404)
    await answers(surge, "/m", on(GO), 302)


async def test_unknown_domains_are_refused_and_change_nothing(surge: Surge) -> None:
    headers = await admin(surge)
    refused = await surge.client.post(
        LINKS, json={"url": "https://e.com", "slug": "x", "domain": "nope.example"}, headers=headers
    )
    assert refused.status_code == 422
    assert refused.headers["content-type"] == PROBLEM_JSON
    assert "domain" in refused.json()["detail"]
    assert (await surge.client.get(f"{LINKS}/x", headers=headers)).status_code == 404
    for body, status in [
        ({"host": "sho.rt"}, 409),  # the default domain
        ({"host": "not a host"}, 422),
        ({"host": GO, "root_url": "ftp://x.example"}, 422),
    ]:
        answer = await surge.client.post(DOMAINS, json=body, headers=headers)
        assert answer.status_code == status, (body, answer.text)
    assert [d["host"] for d in (await surge.client.get(DOMAINS, headers=headers)).json()] == [
        "sho.rt"
    ]


async def test_a_request_for_an_unknown_host_is_a_clear_404(surge: Surge) -> None:
    headers = await admin(surge)
    await surge.client.post(LINKS, json={"url": "https://e.com/a", "slug": "a"}, headers=headers)
    answer = await surge.client.get("/a", headers={"host": "elsewhere.example"})
    assert answer.status_code == 404
    assert answer.json()["type"] == "urn:surge:problem:unknown-domain"


@pytest.mark.parametrize("host", ["localhost", "10.0.0.7", "a_b.example"])
async def test_the_redirects_host_lookup_finds_no_domain_for_what_is_no_domain_name(
    surge: Surge, host: str
) -> None:
    """The split redirect asks the api about every Host it meets; a 422 here made it answer
    503 "links unavailable" to http://localhost/slug."""
    token = {"x-surge-internal-token": INTERNAL_TOKEN}
    transport = httpx.ASGITransport(app=surge.api.app)  # the api alone, as the split one runs
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as api:
        answer = await api.get(f"/internal/domains/{host}", headers=token)
    assert answer.status_code == 404, answer.text


@pytest.mark.parametrize("host", ["localhost:8000", "127.0.0.1:8000", "[::1]:8000"])
async def test_the_embedded_defaults_short_links_answer_on_every_name_of_the_machine(
    tmp_path: Path, host: str
) -> None:
    """`make run` prints http://127.0.0.1:8000; http://localhost:8000/slug works too."""
    settings = make_settings(tmp_path, public_url="http://127.0.0.1:8000")
    async with running_surge(settings) as surge:
        link = {"url": "https://e.com/a", "slug": "a"}
        await surge.client.post(LINKS, json=link, headers=await surge.new_key())
        answer = await surge.client.get("/a", headers={"host": host})
        assert (answer.status_code, answer.headers.get("location")) == (302, "https://e.com/a")


async def test_a_public_domain_is_not_served_on_this_machines_names(surge: Surge) -> None:
    headers = await admin(surge)
    await surge.client.post(LINKS, json={"url": "https://e.com/a", "slug": "a"}, headers=headers)
    assert (await surge.client.get("/a", headers={"host": "localhost"})).status_code == 404


async def test_unknown_hosts_may_be_served_as_the_default_domain(tmp_path: Path) -> None:
    async with running_surge(make_settings(tmp_path, unknown_hosts="default")) as surge:
        headers = await surge.new_key()
        link = {"url": "https://e.com/a", "slug": "a"}
        await surge.client.post(LINKS, json=link, headers=headers)
        answer = await surge.client.get("/a", headers={"host": "10.0.0.7:8000"})
        assert answer.headers["location"] == "https://e.com/a"


async def test_each_domain_has_its_own_root_not_found_and_expired_redirects(
    surge: Surge, now: datetime
) -> None:
    headers = await admin(surge)
    redirects = {
        "root_url": "https://example.com/welcome",
        "not_found_url": "https://example.com/missing",
        "expired_url": "https://example.com/over",
    }
    await surge.client.post(DOMAINS, json={"host": GO, **redirects}, headers=headers)
    past = (now - timedelta(minutes=1)).isoformat()
    for domain in (None, GO):
        body = {"url": "https://e.com/old", "slug": "old", "expires_at": past}
        made = await surge.client.post(LINKS, json={**body, "domain": domain}, headers=headers)
        assert made.status_code == 201, made.text

    for path, where in [("/", "root_url"), ("/nope", "not_found_url"), ("/old", "expired_url")]:
        answer = await surge.client.get(path, headers={"host": GO, "accept": "application/json"})
        assert (answer.status_code, answer.headers["location"]) == (302, redirects[where]), path
    # The default domain keeps its pages (its redirects are settings).
    assert (await surge.client.get("/nope", headers=on("sho.rt"))).status_code == 404
    assert (await surge.client.get("/old", headers=on("sho.rt"))).status_code == 410

    # Changed: every cached answer follows at once.
    changed = await surge.client.patch(
        f"{DOMAINS}/{GO}", json={"not_found_url": "https://example.com/else"}, headers=headers
    )
    assert changed.json()["root_url"] is None
    await answers(surge, "/old", {"host": GO}, 410)  # no expired redirect any more
    for path in ("/nope", "/"):  # without a root redirect, `/` is one more unknown path
        answer = await surge.client.get(path, headers={"host": GO})
        assert answer.headers["location"] == "https://example.com/else"


async def test_a_domain_with_links_is_not_removed(surge: Surge) -> None:
    headers = await admin(surge)
    await surge.client.post(DOMAINS, json={"host": GO}, headers=headers)
    await surge.client.post(
        LINKS, json={"url": "https://e.com", "slug": "k", "domain": GO}, headers=headers
    )
    busy = await surge.client.delete(f"{DOMAINS}/{GO}", headers=headers)
    assert busy.status_code == 409
    assert (await surge.client.get("/k", headers=on(GO))).status_code == 302
    gone = await surge.client.delete(f"{LINKS}/k", params={"domain": GO}, headers=headers)
    assert gone.status_code == 204
    assert (await surge.client.delete(f"{DOMAINS}/{GO}", headers=headers)).status_code == 204
    unknown = {"host": GO, "accept": "application/json"}
    await answers(surge, "/k", unknown, 404)
    answer = await surge.client.get("/k", headers=unknown)
    assert answer.json()["type"] == "urn:surge:problem:unknown-domain"
    assert (await surge.client.delete(f"{DOMAINS}/sho.rt", headers=headers)).status_code == 409
