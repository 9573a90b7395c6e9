"""Input at the edge of what is valid is accepted, stored as sent, and served.

Each case writes, so each gets a fresh app (tests/api/links/test_validation.py has the rejected
input, which changes nothing and shares one app per backend).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Surge
from tests.helpers import GOOD_URL, LINKS, future


@pytest.mark.parametrize(
    "url",
    [
        pytest.param(
            "https://example.com/" + "a" * (2048 - len("https://example.com/")), id="2048"
        ),
        pytest.param("http://EXAMPLE.com:8080/p?q=1#frag", id="port-query-fragment"),
        pytest.param("HTTPS://example.com/", id="upper-case-scheme"),
        pytest.param("https://sho.rt.example.com/x", id="subdomain-of-other-host"),
        pytest.param("https://short.rt/x", id="similar-host"),
        pytest.param("https://exämple.com/ü", id="non-ascii"),
        pytest.param("https://example.com/50%25-off", id="percent-escape"),
    ],
)
async def test_valid_url_boundaries_pass(surge: Surge, key: dict[str, str], url: str) -> None:
    created = await surge.client.post(LINKS, json={"url": url}, headers=key)
    assert created.status_code == 201, created.text
    assert created.json()["url"] == url
    slug = created.json()["slug"]
    fetched = await surge.client.get(f"{LINKS}/{slug}", headers=key)
    assert fetched.json()["url"] == url


async def test_update_accepts_2048_char_url(surge: Surge, key: dict[str, str]) -> None:
    created = await surge.client.post(LINKS, json={"url": GOOD_URL, "slug": "kept"}, headers=key)
    assert created.status_code == 201, created.text
    url = "https://example.com/" + "b" * (2048 - len("https://example.com/"))
    response = await surge.client.patch(f"{LINKS}/kept", json={"url": url}, headers=key)
    assert response.status_code == 200, response.text
    assert response.json()["url"] == url
    assert (await surge.client.head("/kept")).headers["location"] == url


@pytest.mark.parametrize(
    "slug",
    [
        pytest.param("x" * 64, id="64-chars"),
        pytest.param("a", id="1-char"),
        pytest.param("A-b_9", id="all-classes"),
        pytest.param("apis", id="reserved-prefix"),
        pytest.param("my-api", id="reserved-suffix"),
        pytest.param("-_-", id="punctuation-only"),
    ],
)
async def test_valid_slug_boundaries_pass(surge: Surge, key: dict[str, str], slug: str) -> None:
    created = await surge.client.post(LINKS, json={"url": GOOD_URL, "slug": slug}, headers=key)
    assert created.status_code == 201, created.text
    assert created.json()["slug"] == slug
    assert created.json()["short_url"] == f"http://sho.rt/{slug}"
    assert (await surge.client.get(f"{LINKS}/{slug}", headers=key)).status_code == 200
    followed = await surge.client.head(f"/{slug}")
    assert followed.status_code == 302
    assert followed.headers["location"] == GOOD_URL


async def test_slugs_are_case_sensitive(surge: Surge, key: dict[str, str]) -> None:
    for slug, url in (("kept", "https://example.com/kept"), ("KEPT", "https://example.com/other")):
        response = await surge.client.post(LINKS, json={"url": url, "slug": slug}, headers=key)
        assert response.status_code == 201, response.text
    assert (await surge.client.head("/KEPT")).headers["location"] == "https://example.com/other"
    assert (await surge.client.head("/kept")).headers["location"] == "https://example.com/kept"


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"max_clicks": 1}, id="max-clicks-1"),
        pytest.param({"max_clicks": 2**31 - 1}, id="max-clicks-int32-max"),
        pytest.param({"expires_at": "in-a-minute"}, id="expires-soon"),
        pytest.param({"expires_at": "2999-01-01T00:00:00+14:00"}, id="expires-far-offset"),
        pytest.param({"redirect_type": 301}, id="redirect-301"),
        pytest.param({"tags": [f"t{i}" for i in range(20)]}, id="tags-20"),
        pytest.param({"tags": ["x" * 64, "a.b:c-d_e"]}, id="tag-64-chars"),
    ],
)
async def test_valid_field_boundaries_pass(
    surge: Surge, key: dict[str, str], body: dict[str, Any]
) -> None:
    if body.get("expires_at") == "in-a-minute":
        body = {"expires_at": future(minutes=1)}
    created = await surge.client.post(LINKS, json={"url": GOOD_URL, **body}, headers=key)
    assert created.status_code == 201, created.text
    patched = await surge.client.patch(f"{LINKS}/{created.json()['slug']}", json=body, headers=key)
    assert patched.status_code == 200, patched.text
