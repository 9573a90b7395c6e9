"""RFC 9457 problem details: every 4xx/5xx Surge answers is `application/problem+json`.

Each kind of problem is a named `ProblemType` in the catalogue below, raised by name
(`SLUG_TAKEN(f"...")`) and documented by name in the OpenAPI description of every route that
can answer it (`problem_responses`). Its `type` URI, status and title never vary; `detail` says
what happened this time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
from starlette.requests import Request
from starlette.responses import Response

PROBLEM_CONTENT_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:surge:problem:"


def problem_body(
    status: int, name: str, title: str, detail: str | None = None, **extra: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {"type": TYPE_PREFIX + name, "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body.update(extra)
    return body


def problem_bytes(
    status: int, name: str, title: str, detail: str | None = None, **extra: Any
) -> bytes:
    return orjson.dumps(problem_body(status, name, title, detail, **extra))


@dataclass(frozen=True, slots=True)
class ProblemType:
    name: str
    status: int
    title: str

    @property
    def uri(self) -> str:
        return TYPE_PREFIX + self.name

    def __call__(
        self, detail: str | None = None, *, headers: dict[str, str] | None = None, **extra: Any
    ) -> ProblemError:
        """The exception to raise for one occurrence of this problem."""
        return ProblemError(self, detail, headers=headers, **extra)

    def body(self, detail: str | None = None, **extra: Any) -> bytes:
        return problem_bytes(self.status, self.name, self.title, detail, **extra)


# --- the catalogue -----------------------------------------------------------------------------
# Every problem any service answers. Names are part of the API: never rename one.

BAD_REQUEST = ProblemType("http-error", 400, "Bad request")  # e.g. a body that is not UTF-8
INVALID_RANGE = ProblemType("invalid-range", 400, "Invalid range")
RANGE_TOO_LARGE = ProblemType("range-too-large", 400, "Range too large")
UNAUTHORIZED = ProblemType("unauthorized", 401, "Unauthorized")
FORBIDDEN = ProblemType("forbidden", 403, "Forbidden")
NOT_FOUND = ProblemType("not-found", 404, "Not found")
METHOD_NOT_ALLOWED = ProblemType("method-not-allowed", 405, "Method not allowed")
SLUG_TAKEN = ProblemType("slug-taken", 409, "Slug taken")
KEY_IN_USE = ProblemType("key-in-use", 409, "Key in use")
DOMAIN_TAKEN = ProblemType("domain-taken", 409, "Domain taken")
DOMAIN_IN_USE = ProblemType("domain-in-use", 409, "Domain in use")
DEFAULT_DOMAIN = ProblemType("default-domain", 409, "The default domain")
TAG_TAKEN = ProblemType("tag-taken", 409, "Tag taken")
WEBHOOK_LIMIT = ProblemType("webhook-limit", 409, "Too many webhooks")
BATCH_TOO_LARGE = ProblemType("batch-too-large", 413, "Batch too large")
# An all-or-nothing batch (`"atomic": true`) with an item that failed: nothing was done.
BATCH_REFUSED = ProblemType("batch-refused", 422, "Batch refused")
BODY_TOO_LARGE = ProblemType("body-too-large", 413, "Request body too large")
VALIDATION_ERROR = ProblemType("validation-error", 422, "Invalid request")
RATE_LIMITED = ProblemType("rate-limited", 429, "Too many requests")
INTERNAL_ERROR = ProblemType("internal-error", 500, "Internal error")
SLUG_SPACE_BUSY = ProblemType("slug-space-busy", 503, "Try again")
OVERLOADED = ProblemType("overloaded", 503, "Overloaded")
ANALYTICS_UNAVAILABLE = ProblemType("analytics-unavailable", 503, "Stats unavailable")
DATABASE_UNAVAILABLE = ProblemType("database-unavailable", 503, "Try again shortly")
DEPENDENCY_UNAVAILABLE = ProblemType("dependency-unavailable", 503, "Try again shortly")
# The redirect service's pages (HTML for browsers, problem+json for everyone else).
LINK_NOT_FOUND = ProblemType("link-not-found", 404, "Link not found")
LINK_EXPIRED = ProblemType("link-expired", 410, "Link expired")
UNKNOWN_DOMAIN = ProblemType("unknown-domain", 404, "Unknown domain")
PASSWORD_REQUIRED = ProblemType("password-required", 401, "Password required")
WRONG_PASSWORD = ProblemType("wrong-password", 401, "Wrong password")
LINKS_UNAVAILABLE = ProblemType("unavailable", 503, "Try again shortly")

CATALOGUE: dict[str, ProblemType] = {
    p.uri: p for p in list(globals().values()) if isinstance(p, ProblemType)
}


class ProblemError(Exception):
    """Raised anywhere in a request; rendered as problem+json."""

    def __init__(
        self,
        problem: ProblemType,
        detail: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail or problem.title)
        self.problem = problem
        self.detail = detail
        self.headers = headers or {}
        self.extra = extra

    @property
    def status(self) -> int:
        return self.problem.status

    def as_dict(self, **more: Any) -> dict[str, Any]:
        """The problem object (as its response's body), with `more` members, e.g. the index of
        the item of a batch it is about."""
        problem = self.problem
        return problem_body(
            problem.status, problem.name, problem.title, self.detail, **self.extra, **more
        )

    def response(self) -> Response:
        body = self.problem.body(self.detail, **self.extra)
        return Response(body, self.status, self.headers, media_type=PROBLEM_CONTENT_TYPE)

    @classmethod
    def relayed(
        cls, response: httpx.Response, expected: Iterable[ProblemType]
    ) -> ProblemError | None:
        """Another service's answer, when it is one of the `expected` problems, to raise again
        as ours (same type, status and detail); None otherwise."""
        try:
            body = orjson.loads(response.content)
            problem = CATALOGUE[body["type"]]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return None
        if problem not in expected or response.status_code != problem.status:
            return None
        detail = body.get("detail")
        extra = {"errors": body["errors"]} if "errors" in body else {}
        return cls(problem, detail if isinstance(detail, str) else None, **extra)


def not_found(what: str = "resource") -> ProblemError:
    return NOT_FOUND(f"No such {what}.")


# --- OpenAPI -----------------------------------------------------------------------------------

_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string", "format": "uri"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object"}},
    },
}
# What any route of a FastAPI app can answer, whatever else it documents: a body it cannot
# parse or too large, a rate limit, an overloaded process or an unavailable database.
COMMON_PROBLEMS = (
    BAD_REQUEST,
    BODY_TOO_LARGE,
    VALIDATION_ERROR,
    RATE_LIMITED,
    INTERNAL_ERROR,
    OVERLOADED,
    DATABASE_UNAVAILABLE,
)


def problem_responses(*problems: ProblemType) -> dict[int | str, dict[str, Any]]:
    """FastAPI `responses=` documenting each problem a route can answer, by status."""
    by_status: dict[int, list[ProblemType]] = {}
    for problem in (*problems, *COMMON_PROBLEMS):
        if problem not in by_status.setdefault(problem.status, []):
            by_status[problem.status].append(problem)
    return {
        status: {
            "description": "; ".join(f"{p.title} ({p.name})" for p in group),
            "content": {
                PROBLEM_CONTENT_TYPE: {
                    "schema": _SCHEMA,
                    "examples": {
                        p.name: {
                            "summary": p.title,
                            "value": {"type": p.uri, "title": p.title, "status": p.status},
                        }
                        for p in group
                    },
                }
            },
        }
        for status, group in sorted(by_status.items())
    }


# --- FastAPI handlers --------------------------------------------------------------------------


async def problem_error_handler(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ProblemError)
    return exc.response()


def validation_response(_request: Request, exc: Exception) -> Response:
    from fastapi.exceptions import RequestValidationError

    assert isinstance(exc, RequestValidationError)
    return invalid_input(exc.errors()).response()


def invalid_input(found: Iterable[Any], *, within: tuple[str, ...] = ()) -> ProblemError:
    """The 422 of a request that failed validation, from pydantic's errors (each a mapping
    with `loc`, `msg` and `type`); `within`: where the validated value sits in the request
    (("body",) for one item of a batch), as FastAPI's own `loc` starts with it."""
    errors = [
        {
            "loc": [*within, *err.get("loc", ())],
            "msg": str(err.get("msg", "")),
            "type": err.get("type"),
        }
        for err in found
    ]
    detail = "; ".join(f"{'.'.join(map(str, e['loc'][1:])) or 'body'}: {e['msg']}" for e in errors)
    return VALIDATION_ERROR(detail, errors=errors)


def field_problem(field: str, message: str) -> ProblemError:
    """The 422 of one field of a request's body that broke a rule the schema cannot state (a
    refused target, a link that is not the caller's), shaped as FastAPI's own."""
    error = {"loc": (field,), "msg": message, "type": "value_error"}
    return invalid_input([error], within=("body",))


_HTTP_PROBLEMS = {400: BAD_REQUEST, 404: NOT_FOUND, 405: METHOD_NOT_ALLOWED}


def _http_error_response(request: Request, exc: Exception) -> Response:
    """Starlette's and FastAPI's own errors (no route, wrong method, a body it cannot parse):
    the catalogue's type and title, their text as the detail."""
    from starlette.exceptions import HTTPException

    assert isinstance(exc, HTTPException)
    known = _HTTP_PROBLEMS.get(exc.status_code)
    if known is not None:
        body = known.body(str(exc.detail))
    else:  # a status none of our routes raises itself: still problem+json
        body = problem_bytes(exc.status_code, BAD_REQUEST.name, str(exc.detail))
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = ", ".join(allowed_methods(request))
    return Response(body, exc.status_code, headers, media_type=PROBLEM_CONTENT_TYPE)


HTTP_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route of the app takes at this path. Starlette's 405 names only the
    methods of the first route that matched the path, and FastAPI makes one route per method:
    ask each route, by its public `matches`, about each method."""
    from starlette.routing import Match

    routes = request.app.router.routes
    return [
        method
        for method in HTTP_METHODS
        if any(r.matches({**request.scope, "method": method})[0] is Match.FULL for r in routes)
    ]


def _unexpected_error_response(_request: Request, _exc: Exception) -> Response:
    # The exception itself is logged by the server; the client learns nothing internal.
    return INTERNAL_ERROR("Something went wrong.").response()


def install_problem_handlers(app: Any) -> None:
    """Make a FastAPI app answer every error as problem+json."""
    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException

    app.add_exception_handler(Exception, _unexpected_error_response)
    app.add_exception_handler(ProblemError, problem_error_handler)
    app.add_exception_handler(RequestValidationError, validation_response)
    app.add_exception_handler(HTTPException, _http_error_response)
