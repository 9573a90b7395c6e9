"""RFC 9457 problem details: every 4xx/5xx Surge answers is `application/problem+json`."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

PROBLEM_CONTENT_TYPE = "application/problem+json"


def problem_type(name: str) -> str:
    return f"urn:surge:problem:{name}"


def problem_bytes(
    status: int, name: str, title: str, detail: str | None = None, **extra: Any
) -> bytes:
    body: dict[str, Any] = {"type": problem_type(name), "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body.update(extra)
    return orjson.dumps(body)


class ProblemError(Exception):
    """Raised anywhere in a request; rendered as problem+json by `problem_response`."""

    def __init__(
        self,
        status: int,
        name: str,
        title: str,
        detail: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.name = name
        self.title = title
        self.detail = detail
        self.headers = headers or {}
        self.extra = extra

    def response(self) -> Response:
        body = problem_bytes(self.status, self.name, self.title, self.detail, **self.extra)
        return Response(body, self.status, self.headers, media_type=PROBLEM_CONTENT_TYPE)


def not_found(what: str = "resource") -> ProblemError:
    return ProblemError(404, "not-found", "Not found", f"No such {what}.")


async def problem_error_handler(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ProblemError)
    return exc.response()


def _validation_response(_request: Request, exc: Exception) -> Response:
    from fastapi.exceptions import RequestValidationError

    assert isinstance(exc, RequestValidationError)
    errors = [
        {"loc": list(err.get("loc", ())), "msg": str(err.get("msg", "")), "type": err.get("type")}
        for err in exc.errors()
    ]
    detail = "; ".join(f"{'.'.join(map(str, e['loc'][1:])) or 'body'}: {e['msg']}" for e in errors)
    body = problem_bytes(422, "validation-error", "Invalid request", detail, errors=errors)
    return Response(body, 422, media_type=PROBLEM_CONTENT_TYPE)


def _http_error_response(_request: Request, exc: Exception) -> Response:
    from starlette.exceptions import HTTPException

    assert isinstance(exc, HTTPException)
    name = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
    body = problem_bytes(exc.status_code, name, str(exc.detail))
    return Response(body, exc.status_code, exc.headers, media_type=PROBLEM_CONTENT_TYPE)


def _unexpected_error_response(_request: Request, _exc: Exception) -> Response:
    # The exception itself is logged by the server; the client learns nothing internal.
    body = problem_bytes(500, "internal-error", "Internal error", "Something went wrong.")
    return Response(body, 500, media_type=PROBLEM_CONTENT_TYPE)


def install_problem_handlers(app: Any) -> None:
    """Make a FastAPI app answer every error as problem+json."""
    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException

    app.add_exception_handler(Exception, _unexpected_error_response)
    app.add_exception_handler(ProblemError, problem_error_handler)
    app.add_exception_handler(RequestValidationError, _validation_response)
    app.add_exception_handler(HTTPException, _http_error_response)
