"""Shlink's problem types (RFC 9457 with `https://shlink.io/api/error/<name>` types) and the
route class that answers every error of a /rest/ route in them.

Surge's own problems raised by the services underneath (a taken slug, a refused URL, an unknown
link) are translated here, once; problems Shlink has no type for (429, 413, 503: limits and
outages) keep Surge's `urn:surge:problem:` type, still problem+json."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import Any

import orjson
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

from surge.platform.problems import (
    BAD_REQUEST,
    NOT_FOUND,
    PROBLEM_CONTENT_TYPE,
    SLUG_TAKEN,
    TAG_TAKEN,
    UNAUTHORIZED,
    VALIDATION_ERROR,
    ProblemError,
    ProblemType,
)
from surge.shlink.cors import with_cors

SHLINK_TYPE_PREFIX = "https://shlink.io/api/error/"

# Shlink's names of the fields Surge's validation names (an error's `loc`).
SHLINK_FIELDS = {
    "url": "longUrl",
    "slug": "customSlug",
    "expires_at": "validUntil",
    "max_clicks": "maxVisits",
    "tags": "tags",
    "title": "title",
    "valid_since": "validSince",
    "crawlable": "crawlable",
    "forward_query": "forwardQuery",
}


class ShlinkType(ProblemType):
    """A Shlink problem type: its `type` is Shlink's URL, not Surge's URN."""

    @property
    def uri(self) -> str:
        return SHLINK_TYPE_PREFIX + self.name

    def __call__(
        self, detail: str | None = None, *, headers: dict[str, str] | None = None, **extra: Any
    ) -> ProblemError:
        return ShlinkError(self, detail, headers=headers, **extra)


class ShlinkError(ProblemError):
    def response(self) -> Response:
        body = {
            "type": self.problem.uri,
            "title": self.problem.title,
            "detail": self.detail or self.problem.title,  # Shlink's Error requires a detail
            "status": self.status,
            **self.extra,
        }
        return Response(
            orjson.dumps(body), self.status, self.headers, media_type=PROBLEM_CONTENT_TYPE
        )


INVALID_DATA = ShlinkType("invalid-data", 400, "Invalid data")
NON_UNIQUE_SLUG = ShlinkType("non-unique-slug", 400, "Invalid custom slug")
MISSING_AUTHENTICATION = ShlinkType("missing-authentication", 401, "Invalid authorization")
INVALID_API_KEY = ShlinkType("invalid-api-key", 401, "Invalid API key")
SHORT_URL_NOT_FOUND = ShlinkType("short-url-not-found", 404, "Short URL not found")
TAG_NOT_FOUND = ShlinkType("tag-not-found", 404, "Tag not found")
DOMAIN_NOT_FOUND = ShlinkType("domain-not-found", 404, "Domain not found")
NOT_FOUND_SHLINK = ShlinkType("not-found", 404, "Not found")
TAG_CONFLICT = ShlinkType("tag-conflict", 409, "Tag conflict")
MERCURE_NOT_CONFIGURED = ShlinkType(
    "mercure-not-configured", 501, "Mercure integration not configured"
)


def invalid_data(elements: list[str], detail: str | None = None) -> ProblemError:
    return INVALID_DATA(
        detail or "Provided data is not valid", invalidElements=sorted(set(elements))
    )


def _element(loc: list[Any] | tuple[Any, ...]) -> str:
    """The Shlink name of the field an error's location points at (`body.url` → longUrl)."""
    parts = [str(p) for p in loc if not isinstance(p, int)]
    name = parts[1] if len(parts) > 1 and parts[0] in ("body", "query", "path") else ".".join(parts)
    return SHLINK_FIELDS.get(name, name or "body")


def tag_not_found(tag: str) -> ProblemError:
    return TAG_NOT_FOUND(f'Tag with name "{tag}" could not be found', tag=tag)


def shlink_problem(
    exc: ProblemError,
    *,
    short_code: str | None = None,
    custom_slug: str | None = None,
    renaming: tuple[str, str] | None = None,
) -> ProblemError:
    """A problem of Surge's services as Shlink would answer it (others as they are). Knowing
    which short code was looked up, which slug asked for, or which tag renamed (old and new
    name), it says so as Shlink does."""
    if isinstance(exc, ShlinkError):
        return exc
    if renaming is not None:
        old, new = renaming
        if exc.problem is NOT_FOUND:
            return tag_not_found(old)
        if exc.problem is TAG_TAKEN:
            return TAG_CONFLICT(
                f"You cannot rename tag {old} to {new}, because it already exists",
                oldName=old,
                newName=new,
            )
    if exc.problem in (VALIDATION_ERROR, BAD_REQUEST):
        errors = exc.extra.get("errors") or []
        return invalid_data([_element(e.get("loc", ())) for e in errors] or ["body"], exc.detail)
    if exc.problem is SLUG_TAKEN:
        if custom_slug is None:
            return NON_UNIQUE_SLUG(exc.detail)
        return NON_UNIQUE_SLUG(
            f'Provided slug "{custom_slug}" is already in use.', customSlug=custom_slug
        )
    if exc.problem is UNAUTHORIZED:
        return INVALID_API_KEY("Provided API key does not exist or is invalid.")
    if exc.problem is NOT_FOUND:
        if short_code is None:
            return NOT_FOUND_SHLINK(exc.detail)
        return SHORT_URL_NOT_FOUND(
            f'No URL found with short code "{short_code}"', shortCode=short_code
        )
    return exc


@contextmanager
def in_shlink_terms(
    *,
    short_code: str | None = None,
    custom_slug: str | None = None,
    renaming: tuple[str, str] | None = None,
) -> Iterator[None]:
    """Surge's problems raised inside, said as Shlink says them about this short code, slug or
    tag renaming."""
    try:
        yield
    except ProblemError as exc:
        translated = shlink_problem(
            exc, short_code=short_code, custom_slug=custom_slug, renaming=renaming
        )
        if translated is exc:
            raise
        raise translated from exc


Handler = Callable[[Request], Coroutine[Any, Any, Response]]


class ShlinkRoute(APIRoute):
    """A /rest/ route: its errors in Shlink's problem types, its answers with CORS headers."""

    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()

        async def shlink_handler(request: Request) -> Response:
            try:
                response = await handler(request)
            except RequestValidationError as exc:
                elements = [_element(e.get("loc", ())) for e in exc.errors()]
                detail = "; ".join(
                    f"{_element(e.get('loc', ()))}: {e.get('msg', '')}" for e in exc.errors()
                )
                response = invalid_data(elements, detail).response()
            except ProblemError as exc:
                response = shlink_problem(exc).response()
            return with_cors(request, response)

        return shlink_handler
