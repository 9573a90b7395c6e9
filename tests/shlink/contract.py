"""Helpers of the Shlink API tests: requests with a key, answers validated against the models
written from Shlink's OpenAPI definitions (surge.shlink.schemas)."""

from __future__ import annotations

from typing import Any, TypeVar

import httpx
from pydantic import BaseModel

from surge.shlink.schemas import Error
from tests.helpers import PROBLEM_JSON

REST = "/rest/v3"
M = TypeVar("M", bound=BaseModel)


def shlink_key(headers: dict[str, str]) -> dict[str, str]:
    """The `X-Api-Key` header of a key made by `surge.new_key()` (which returns a Bearer)."""
    return {"X-Api-Key": headers["Authorization"].removeprefix("Bearer ")}


def valid(response: httpx.Response, model: type[M], status: int = 200) -> M:
    """The answer, `status` and JSON, as `model` (Shlink's definition) reads it, strictly."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    return model.model_validate_json(response.content, strict=False)


def shlink_problem(response: httpx.Response, status: int, name: str) -> dict[str, Any]:
    """A Shlink problem: its type URL, status, title and detail (definitions/Error.json)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].split(";")[0] == PROBLEM_JSON
    error = Error.model_validate_json(response.content)
    assert error.type == f"https://shlink.io/api/error/{name}"
    assert error.status == status
    body: dict[str, Any] = response.json()
    return body
