"""Bad input to the links API gets a clear problem+json 4xx and changes nothing.

Nothing here writes (input that is accepted is tests/api/links/test_boundaries.py), so every test
shares one app per backend and one `kept` link, created once: after each rejected request,
`assert_unchanged` checks that the link and the list of links are still exactly as created.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio

from tests.conftest import Surge
from tests.helpers import GOOD_URL, LINKS, PROBLEM_JSON, assert_problem, future

# The module's fixtures and tests run on one event loop: the app lives as long as the module.
pytestmark = pytest.mark.asyncio(loop_scope="module")

KEPT = {
    "url": "https://example.com/kept?a=1",
    "slug": "kept",
    "redirect_type": 307,
    "max_clicks": 5,
    "tags": ["launch", "q3"],
}


def past() -> str:
    return (datetime.now(UTC) - timedelta(minutes=1)).isoformat()


@pytest.fixture(scope="module")
def surge(module_surge: Surge) -> Surge:
    """One app per backend for the whole module (conftest's `surge` is one per test)."""
    return module_surge


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def key(surge: Surge) -> dict[str, str]:
    return await surge.new_key()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def other_key(surge: Surge) -> dict[str, str]:
    """A second key, which owns no link."""
    return await surge.new_key("other")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def kept(surge: Surge, key: dict[str, str]) -> dict[str, Any]:
    """One existing link (with every optional field set) that bad requests must not touch."""
    response = await surge.client.post(LINKS, json={**KEPT, "expires_at": future()}, headers=key)
    assert response.status_code == 201, response.text
    link: dict[str, Any] = response.json()
    return link


def assert_error_at(problem: dict[str, Any], field: str) -> None:
    """The 422 names the offending field (body-level errors, e.g. nulls, name it in detail)."""
    locs = [err["loc"] for err in problem["errors"]]
    assert any(field in loc for loc in locs) or field in problem["detail"], problem


async def all_links(surge: Surge, key: dict[str, str]) -> list[dict[str, Any]]:
    response = await surge.client.get(LINKS, params={"limit": 200}, headers=key)
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    assert page["next_cursor"] is None
    items: list[dict[str, Any]] = page["items"]
    return items


async def assert_unchanged(surge: Surge, key: dict[str, str], kept: dict[str, Any]) -> None:
    assert await all_links(surge, key) == [kept]
    response = await surge.client.get(f"{LINKS}/{kept['slug']}", headers=key)
    assert response.json() == kept
    # HEAD follows the redirect path without counting a click.
    followed = await surge.client.head(f"/{kept['slug']}")
    assert followed.status_code == 307
    assert followed.headers["location"] == kept["url"]


# --- url ---------------------------------------------------------------------------------------

BAD_URLS = [
    pytest.param("ftp://x", id="ftp"),
    pytest.param("javascript:alert(1)", id="javascript"),
    pytest.param("mailto:someone@example.com", id="mailto"),
    pytest.param("data:text/html,<b>hi</b>", id="data"),
    pytest.param("https://", id="no-host"),
    pytest.param("http:///path", id="empty-host"),
    pytest.param("example.com", id="no-scheme"),
    pytest.param("//example.com/x", id="scheme-relative"),
    pytest.param("", id="empty"),
    pytest.param("http://example.com:99999/", id="port-out-of-range"),
    pytest.param("http://example.com:http/", id="port-not-a-number"),
    pytest.param("http://[::1/", id="broken-ipv6"),
    pytest.param("https://example.com/" + "a" * (2049 - len("https://example.com/")), id="2049"),
    pytest.param("https://example.com/a b", id="space"),
    pytest.param(" https://example.com/", id="leading-space"),
    pytest.param("https://example.com/\ta", id="tab"),
    pytest.param("https://example.com/\na", id="newline"),
    pytest.param("https://example.com/\ra", id="carriage-return"),
    pytest.param("https://example.com/\x00a", id="nul"),
    pytest.param("https://example.com/\x7fa", id="del"),
    pytest.param("https://example.com/\u00a0a", id="nbsp"),
    # Back at Surge's own short domain: a redirect loop or a link chain.
    pytest.param("http://sho.rt/x", id="self"),
    pytest.param("HTTPS://SHO.RT/y", id="self-upper-case"),
    pytest.param("https://sho.rt./y", id="self-final-dot"),
    pytest.param("http://user:pw@sho.rt:8443/x", id="self-userinfo-port"),
    pytest.param("http://sho.rt%2E/x", id="self-percent-encoded"),
    pytest.param("http://\uff53\uff48\uff4f.\uff52\uff54/x", id="self-fullwidth"),
    pytest.param("http://sho\u3002rt/x", id="self-ideographic-dot"),
]


@pytest.mark.parametrize("url", BAD_URLS)
async def test_bad_url_is_rejected_on_create_and_update(
    surge: Surge, key: dict[str, str], kept: dict[str, Any], url: str
) -> None:
    response = await surge.client.post(LINKS, json={"url": url, "slug": "fresh"}, headers=key)
    assert_error_at(assert_problem(response, 422, "validation-error"), "url")
    await assert_unchanged(surge, key, kept)
    response = await surge.client.patch(f"{LINKS}/kept", json={"url": url}, headers=key)
    assert_error_at(assert_problem(response, 422, "validation-error"), "url")
    await assert_unchanged(surge, key, kept)


# --- slug --------------------------------------------------------------------------------------

RESERVED = ["api", "docs", "openapi.json", "healthz", "readyz", "metrics", "internal", "static"]


@pytest.mark.parametrize(
    "slug",
    [
        pytest.param("", id="empty"),
        pytest.param("a" * 65, id="65-chars"),
        pytest.param("a/b", id="slash"),
        pytest.param("héllo", id="non-ascii"),
        pytest.param("a.b", id="dot"),
        pytest.param("a b", id="space"),
        pytest.param("a\n", id="trailing-newline"),
        pytest.param("a%20b", id="percent"),
        pytest.param("a?b", id="question-mark"),
        pytest.param(7, id="not-a-string"),
        *(pytest.param(slug, id=f"reserved-{slug}") for slug in RESERVED),
        pytest.param("API", id="reserved-upper"),
        pytest.param("Docs", id="reserved-title"),
        pytest.param("MeTrIcS", id="reserved-mixed"),
        pytest.param("OpenAPI.JSON", id="reserved-dotted-upper"),
    ],
)
async def test_create_rejects_bad_slug(
    surge: Surge, key: dict[str, str], kept: dict[str, Any], slug: object
) -> None:
    response = await surge.client.post(LINKS, json={"url": GOOD_URL, "slug": slug}, headers=key)
    assert_error_at(assert_problem(response, 422, "validation-error"), "slug")
    await assert_unchanged(surge, key, kept)


async def test_slug_path_parameter_over_64_chars_is_rejected(
    surge: Surge, key: dict[str, str], kept: dict[str, Any]
) -> None:
    long_slug = "k" * 65
    for method in ("GET", "PATCH", "DELETE"):
        json = {"url": GOOD_URL} if method == "PATCH" else None
        response = await surge.client.request(
            method, f"{LINKS}/{long_slug}", json=json, headers=key
        )
        assert_problem(response, 422, "validation-error")
    await assert_unchanged(surge, key, kept)


# --- the other fields --------------------------------------------------------------------------

BAD_FIELDS = [
    # PostgreSQL's text holds no NUL: a 500 there until the fuzz found it.
    pytest.param({"title": "a\x00b"}, "title", id="title-with-nul"),
    pytest.param({"title": "t" * 513}, "title", id="title-513-chars"),
    pytest.param({"redirect_type": 303}, "redirect_type", id="redirect-303"),
    pytest.param({"redirect_type": 200}, "redirect_type", id="redirect-200"),
    pytest.param({"redirect_type": 300}, "redirect_type", id="redirect-300"),
    pytest.param({"redirect_type": "302"}, "redirect_type", id="redirect-string"),
    pytest.param({"redirect_type": 302.5}, "redirect_type", id="redirect-float"),
    pytest.param({"max_clicks": 0}, "max_clicks", id="max-clicks-0"),
    pytest.param({"max_clicks": -1}, "max_clicks", id="max-clicks-negative"),
    pytest.param({"max_clicks": 1.5}, "max_clicks", id="max-clicks-fraction"),
    pytest.param({"max_clicks": "lots"}, "max_clicks", id="max-clicks-word"),
    pytest.param({"max_clicks": True}, "max_clicks", id="max-clicks-boolean"),
    pytest.param({"max_clicks": "5"}, "max_clicks", id="max-clicks-string"),
    pytest.param({"max_clicks": 2**31}, "max_clicks", id="max-clicks-over-int32"),
    pytest.param({"max_clicks": 2**64}, "max_clicks", id="max-clicks-over-int64"),
    pytest.param({"expires_at": 1700000000}, "expires_at", id="expires-epoch-number"),
    pytest.param({"expires_at": "1700000000"}, "expires_at", id="expires-epoch-string"),
    pytest.param({"expires_at": "2999-01-01T00:00:00"}, "expires_at", id="expires-naive"),
    pytest.param({"expires_at": "2999-01-01"}, "expires_at", id="expires-date-only"),
    pytest.param({"expires_at": "soon"}, "expires_at", id="expires-word"),
    pytest.param({"expires_at": "9999-12-31T23:59:59-05:00"}, "expires_at", id="expires-overflow"),
    pytest.param({"expires_at": "0001-01-01T00:30:00+01:00"}, "expires_at", id="expires-underflow"),
    pytest.param({"tags": ["has space"]}, "tags", id="tag-space"),
    pytest.param({"tags": ["x" * 65]}, "tags", id="tag-65-chars"),
    pytest.param({"tags": [""]}, "tags", id="tag-empty"),
    pytest.param({"tags": [f"t{i}" for i in range(21)]}, "tags", id="tags-21"),
    pytest.param({"tags": "launch"}, "tags", id="tags-not-a-list"),
    pytest.param({"tags": [1]}, "tags", id="tag-not-a-string"),
]


def with_times(body: dict[str, Any]) -> dict[str, Any]:
    return {k: past() if v == "past" else v for k, v in body.items()}


@pytest.mark.parametrize(("body", "field"), BAD_FIELDS)
async def test_bad_field_is_rejected_on_create_and_update(
    surge: Surge, key: dict[str, str], kept: dict[str, Any], body: dict[str, Any], field: str
) -> None:
    response = await surge.client.post(
        LINKS, json={"url": GOOD_URL, "slug": "fresh", **with_times(body)}, headers=key
    )
    assert_error_at(assert_problem(response, 422, "validation-error"), field)
    await assert_unchanged(surge, key, kept)
    response = await surge.client.patch(f"{LINKS}/kept", json=with_times(body), headers=key)
    assert_error_at(assert_problem(response, 422, "validation-error"), field)
    await assert_unchanged(surge, key, kept)


async def test_a_bad_field_rejects_the_whole_update(
    surge: Surge, key: dict[str, str], kept: dict[str, Any]
) -> None:
    body = {"url": "https://example.com/new", "tags": ["new"], "max_clicks": 0}
    response = await surge.client.patch(f"{LINKS}/kept", json=body, headers=key)
    assert_problem(response, 422, "validation-error")
    await assert_unchanged(surge, key, kept)


# --- unknown fields and nulls -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({"owner_id": 2}, "owner_id", id="owner_id"),
        pytest.param({"id": 1}, "id", id="id"),
        pytest.param({"clicks": 0}, "clicks", id="clicks"),
        pytest.param({"created_at": "2030-01-01T00:00:00Z"}, "created_at", id="created_at"),
        pytest.param({"URL": GOOD_URL}, "URL", id="case-variant"),
        pytest.param({"redirectType": 301}, "redirectType", id="camel-case"),
    ],
)
async def test_create_rejects_unknown_fields(
    surge: Surge, key: dict[str, str], kept: dict[str, Any], body: dict[str, Any], field: str
) -> None:
    response = await surge.client.post(LINKS, json={"url": GOOD_URL, **body}, headers=key)
    assert_error_at(assert_problem(response, 422, "validation-error"), field)
    await assert_unchanged(surge, key, kept)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({"slug": "renamed"}, "slug", id="slug-is-immutable"),
        pytest.param({"owner_id": 2}, "owner_id", id="owner_id"),
        pytest.param({"short_url": "http://sho.rt/x"}, "short_url", id="short_url"),
        pytest.param({"url": GOOD_URL, "extra": True}, "extra", id="with-a-valid-field"),
    ],
)
async def test_update_rejects_unknown_fields(
    surge: Surge, key: dict[str, str], kept: dict[str, Any], body: dict[str, Any], field: str
) -> None:
    response = await surge.client.patch(f"{LINKS}/kept", json=body, headers=key)
    assert_error_at(assert_problem(response, 422, "validation-error"), field)
    await assert_unchanged(surge, key, kept)
    assert (await surge.client.get(f"{LINKS}/renamed", headers=key)).status_code == 404


@pytest.mark.parametrize("field", ["url", "redirect_type", "tags"])
async def test_update_rejects_null_for_required_fields(
    surge: Surge, key: dict[str, str], kept: dict[str, Any], field: str
) -> None:
    response = await surge.client.patch(f"{LINKS}/kept", json={field: None}, headers=key)
    assert_error_at(assert_problem(response, 422, "validation-error"), field)
    await assert_unchanged(surge, key, kept)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({}, id="no-url"),
        pytest.param({"url": None}, id="null-url"),
        pytest.param({"url": 42}, id="number-url"),
        pytest.param({"url": GOOD_URL, "redirect_type": None}, id="null-redirect-type"),
        pytest.param({"url": GOOD_URL, "tags": None}, id="null-tags"),
    ],
)
async def test_create_rejects_missing_or_null_required_fields(
    surge: Surge, key: dict[str, str], kept: dict[str, Any], body: dict[str, Any]
) -> None:
    response = await surge.client.post(LINKS, json=body, headers=key)
    assert_problem(response, 422, "validation-error")
    await assert_unchanged(surge, key, kept)


# --- malformed bodies ---------------------------------------------------------------------------

MALFORMED = [
    pytest.param(b"{bad", id="broken"),
    pytest.param(b'{"url": "https://example.com/x"', id="truncated"),
    pytest.param(b'{"url": "https://example.com/x",}', id="trailing-comma"),
    pytest.param(b"{'url': 'https://example.com/x'}", id="single-quotes"),
    pytest.param(b"", id="empty"),
    pytest.param(b"null", id="null"),
    pytest.param(b"[]", id="array"),
    pytest.param(b'"https://example.com/x"', id="string"),
]


@pytest.mark.parametrize("content", MALFORMED)
async def test_malformed_json_is_rejected_on_create_and_update(
    surge: Surge, key: dict[str, str], kept: dict[str, Any], content: bytes
) -> None:
    headers = {**key, "content-type": "application/json"}
    for method, path in (("POST", LINKS), ("PATCH", f"{LINKS}/kept")):
        response = await surge.client.request(method, path, content=content, headers=headers)
        assert_problem(response, 422, "validation-error")
        await assert_unchanged(surge, key, kept)


async def test_body_that_is_not_utf8_is_a_problem(
    surge: Surge, key: dict[str, str], kept: dict[str, Any]
) -> None:
    headers = {**key, "content-type": "application/json"}
    for method, path in (("POST", LINKS), ("PATCH", f"{LINKS}/kept")):
        response = await surge.client.request(
            method, path, content=b'{"url": "https://example.com/\xff"}', headers=headers
        )
        # FastAPI answers an undecodable body with 400, not 422 like other malformed JSON.
        assert response.status_code in (400, 422), response.text
        assert response.headers["content-type"].split(";")[0] == PROBLEM_JSON
        await assert_unchanged(surge, key, kept)


# --- slug taken --------------------------------------------------------------------------------


async def test_taken_slug_is_409_and_the_link_is_unchanged(
    surge: Surge, key: dict[str, str], other_key: dict[str, str], kept: dict[str, Any]
) -> None:
    for headers in (key, other_key):
        response = await surge.client.post(
            LINKS,
            json={"url": "https://evil.example/", "slug": "kept", "redirect_type": 301},
            headers=headers,
        )
        problem = assert_problem(response, 409, "slug-taken")
        assert "kept" in problem["detail"]
    await assert_unchanged(surge, key, kept)
    assert await all_links(surge, other_key) == []


# --- authentication ----------------------------------------------------------------------------

BAD_AUTH = [
    pytest.param(None, id="missing"),
    pytest.param("", id="empty"),
    pytest.param("Bearer", id="scheme-only"),
    pytest.param("Bearer    ", id="blank-secret"),
    pytest.param("Basic dXNlcjpwYXNz", id="basic"),
    pytest.param("Token {secret}", id="wrong-scheme-valid-secret"),
    pytest.param("{secret}", id="no-scheme-valid-secret"),
    pytest.param("Bearer sk_unknown-key-0000000000000000000000000000000", id="unknown-key"),
    pytest.param("Bearer {secret}x", id="valid-key-plus-a-char"),
    pytest.param("Bearer {prefix}", id="key-prefix-only"),
]

ENDPOINTS: list[tuple[str, str, dict[str, Any] | None]] = [
    ("POST", LINKS, {"url": GOOD_URL, "slug": "fresh"}),
    ("GET", LINKS, None),
    ("GET", f"{LINKS}/kept", None),
    ("PATCH", f"{LINKS}/kept", {"url": "https://evil.example/"}),
    ("DELETE", f"{LINKS}/kept", None),
    ("GET", f"{LINKS}/kept/stats", None),
]


@pytest.mark.parametrize("authorization", BAD_AUTH)
async def test_unauthorized_on_every_endpoint(
    surge: Surge, key: dict[str, str], kept: dict[str, Any], authorization: str | None
) -> None:
    secret = key["Authorization"].removeprefix("Bearer ")
    headers = {}
    if authorization is not None:
        headers["Authorization"] = authorization.format(secret=secret, prefix=secret[:8])
    for method, path, body in ENDPOINTS:
        response = await surge.client.request(method, path, json=body, headers=headers)
        assert_problem(response, 401, "unauthorized")
        assert response.headers["www-authenticate"] == "Bearer"
    await assert_unchanged(surge, key, kept)
    assert (await surge.client.get(f"{LINKS}/fresh", headers=key)).status_code == 404


async def test_bearer_scheme_is_case_insensitive(
    surge: Surge, key: dict[str, str], kept: dict[str, Any]
) -> None:
    secret = key["Authorization"].removeprefix("Bearer ")
    response = await surge.client.get(LINKS, headers={"Authorization": f"bearer {secret}"})
    assert response.status_code == 200, response.text
    assert response.json()["items"] == [kept]


# --- pagination --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cursor",
    [
        pytest.param("!!!!", id="not-a-number"),
        pytest.param("0", id="zero"),
        pytest.param("-5", id="negative"),
        pytest.param("1.5", id="fraction"),
        pytest.param("0012", id="leading-zero"),
        pytest.param("9" * 19, id="beyond-bigint"),
        pytest.param("MTIz", id="old-base64-form"),
    ],
)
async def test_invalid_cursor_is_422_naming_it(
    surge: Surge, key: dict[str, str], kept: dict[str, Any], cursor: str
) -> None:
    response = await surge.client.get(LINKS, params={"cursor": cursor}, headers=key)
    assert_error_at(assert_problem(response, 422, "validation-error"), "cursor")
    await assert_unchanged(surge, key, kept)


async def test_the_largest_cursor_is_valid(
    surge: Surge, key: dict[str, str], kept: dict[str, Any]
) -> None:
    response = await surge.client.get(LINKS, params={"cursor": "9" * 18}, headers=key)
    assert response.status_code == 200, response.text
    assert response.json()["items"] == [kept]


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"cursor": "x" * 41}, id="cursor-too-long"),
        pytest.param({"limit": 0}, id="limit-0"),
        pytest.param({"limit": 201}, id="limit-201"),
        pytest.param({"limit": "ten"}, id="limit-word"),
        pytest.param({"tag": "t" * 65}, id="tag-too-long"),
        pytest.param({"q": "q" * 201}, id="q-too-long"),
    ],
)
async def test_invalid_list_parameters_are_422(
    surge: Surge, key: dict[str, str], kept: dict[str, Any], params: dict[str, Any]
) -> None:
    response = await surge.client.get(LINKS, params=params, headers=key)
    assert_problem(response, 422, "validation-error")
    await assert_unchanged(surge, key, kept)
