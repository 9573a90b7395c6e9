"""Statement durations of an engine (SQLAlchemy cursor events) by a bounded fingerprint.

A fingerprint names a statement for people and keeps its identity across processes and
versions: its verb, its first table and a hash of its text with parameter lists collapsed
(`select links 1a2b3c4d`). Statements are parameterized, so their number is that of the code's
queries; past MAX_FINGERPRINTS per process (a runaway caller) the rest is labelled `other`.
"""

from __future__ import annotations

import hashlib
import re
import time
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from surge.platform.metrics import DB_STATEMENT_DURATION

MAX_FINGERPRINTS = 200
_PARAMETER_LIST = re.compile(r"(?:\$\d+|\?|%\(\w+\)s)(?:\s*,\s*(?:\$\d+|\?|%\(\w+\)s))+")
_ROWS = re.compile(r"\(\s*\?\s*\)(?:\s*,\s*\(\s*\?\s*\))+")
_SPACE = re.compile(r"\s+")
_TABLE = re.compile(r'\b(?:FROM|INTO|UPDATE|TABLE)\s+"?([A-Za-z_][\w.]*)"?', re.IGNORECASE)
_START = "surge_statement_start"


def fingerprint(statement: str) -> str:
    text = _SPACE.sub(" ", statement).strip()
    text = _ROWS.sub("(?)", _PARAMETER_LIST.sub("?", text))
    verb = text.split(" ", 1)[0].lower() if text else "empty"
    table = _TABLE.search(text)
    digest = hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()[:8]
    return f"{verb} {table.group(1).lower() if table else '-'} {digest}"


class StatementTimer:
    def __init__(self, service: str) -> None:
        self.service = service
        self._names: dict[str, str] = {}  # statement text -> fingerprint
        self._fingerprints: set[str] = set()

    def name(self, statement: str) -> str:
        name = self._names.get(statement)
        if name is None:
            name = fingerprint(statement)
            if name not in self._fingerprints and len(self._fingerprints) >= MAX_FINGERPRINTS:
                name = "other"
            else:
                self._fingerprints.add(name)
            if len(self._names) < 10 * MAX_FINGERPRINTS:
                self._names[statement] = name
        return name

    def before(self, _conn: Any, _cursor: Any, _statement: str, *_args: Any) -> None:
        _conn.info.setdefault(_START, []).append(time.perf_counter())

    def after(self, conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        starts = conn.info.get(_START)
        if starts:
            elapsed = time.perf_counter() - starts.pop()
            DB_STATEMENT_DURATION.labels(self.service, self.name(statement)).observe(elapsed)

    def error(self, context: Any) -> None:
        starts = context.connection.info.get(_START) if context.connection is not None else None
        if starts:
            starts.pop()


def instrument_engine(engine: AsyncEngine, service: str) -> None:
    """Time every statement `engine` runs, labelled with `service`."""
    timer = StatementTimer(service)
    sync = engine.sync_engine
    event.listen(sync, "before_cursor_execute", timer.before)
    event.listen(sync, "after_cursor_execute", timer.after)
    event.listen(sync, "handle_error", timer.error)
