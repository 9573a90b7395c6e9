"""pydantic's validation errors as people read them (forms, the CLI, import reports)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def error_message(error: Mapping[str, Any]) -> str:
    """An error's message without pydantic's "Value error, " (put before what a validator's
    ValueError said), which tells a person nothing."""
    return str(error["msg"]).removeprefix("Value error, ")
