"""A spreadsheet of new links, as the dashboard's import takes it: a CSV file whose header
names the columns (any order, any case; "Long URL", "long_url" and "longUrl" alike), read into
bodies of a single create, each with the line it is on.

| column | also read from | |
|---|---|---|
| url | target, long_url, destination | required |
| slug | short_code, keyword, back_half | absent: a random one |
| title | | |
| tags | tag | separated by `|`, `;`, `,` or spaces |
| expires_at | expires, expiry | ISO 8601; no zone: UTC |
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from surge.transfer.formats import RowProblem, parse_time
from surge.transfer.sources import BadRecord, csv_records, undecodable

_COLUMNS = {
    "url": ("url", "target", "longurl", "destination"),
    "slug": ("slug", "shortcode", "keyword", "backhalf"),
    "title": ("title",),
    "tags": ("tags", "tag"),
    "expires_at": ("expiresat", "expires", "expiry"),
}


@dataclass(slots=True, frozen=True)
class SheetRow:
    where: str  # "line 7"
    body: dict[str, Any] | None  # a single create's body; None: the row could not be read
    problem: str | None = None  # why it could not


def _cell(fields: dict[str, str | None], column: str) -> str:
    for key in _COLUMNS[column]:
        value = (fields.get(key) or "").strip()
        if value:
            return value
    return ""


def _body(fields: dict[str, str | None]) -> dict[str, Any]:
    body: dict[str, Any] = {"url": _cell(fields, "url")}
    if not body["url"]:
        raise RowProblem("no url")
    for column in ("slug", "title"):
        if _cell(fields, column):
            body[column] = _cell(fields, column)
    tags = [t for t in re.split(r"[|;,\s]+", _cell(fields, "tags")) if t]
    if tags:
        body["tags"] = list(dict.fromkeys(tags))
    expires = parse_time(_cell(fields, "expires_at"), "expires_at")
    if expires is not None:
        body["expires_at"] = expires
    return body


def sheet_rows(text: str) -> Iterator[SheetRow]:
    """Each row of the CSV `text`, as a body or why it is none."""
    for record in csv_records(text):
        if isinstance(record, BadRecord):
            yield SheetRow(record.where, None, record.why)
            continue
        problem = undecodable(record.fields)
        if problem:
            yield SheetRow(record.where, None, problem)
            continue
        try:
            yield SheetRow(record.where, _body(record.fields))
        except RowProblem as exc:
            yield SheetRow(record.where, None, str(exc))
