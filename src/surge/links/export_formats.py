"""How a download is written: a link's visits as CSV or a JSON array, its stats as CSV.

Every piece is bytes for one page of visits, so a download of any size is written page by
page and never held whole.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

import orjson

from surge.data.contracts import DIMENSIONS, LinkStats
from surge.data.visit_export import VISIT_COLUMNS, VisitRow

# A cell a spreadsheet would read as a formula (OWASP's "CSV injection"): a referrer's host, a
# city or a target comes from outside, so such a cell gets a leading ' and is read as text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
FORMULA_CHARS = "".join(FORMULA_STARTS)
STATS_COLUMNS = ("kind", "value", "clicks")


def iso_time(moment: datetime) -> str:
    """One fixed form for every time of a download: UTC, microseconds, 'Z' (it sorts as text)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _cell(value: str | None) -> str:
    if value is None:
        return ""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def _csv(rows: Iterable[Sequence[str | None]]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)  # RFC 4180's line ends
    return out.getvalue().encode()


def visits_csv_header() -> bytes:
    return _csv([VISIT_COLUMNS])


def visits_csv(visits: Sequence[VisitRow]) -> bytes:
    # Inline rather than a call per cell: a download is a million rows of eleven.
    return _csv(
        [
            "'" + v if v and v[0] in FORMULA_CHARS else v
            for v in (*row[:9], "true" if row[9] else "false", row[10])
        ]
        for row in visits
    )


def visits_json(visits: Sequence[VisitRow], *, first: bool) -> bytes:
    """The page's visits as members of the one JSON array a download is: `[` starts the first
    page, a `,` every later one that has visits; `JSON_END` closes the array."""
    if not visits:
        return b"[" if first else b""
    members = orjson.dumps([dict(zip(VISIT_COLUMNS, row, strict=True)) for row in visits])
    return (b"[" if first else b",") + members[1:-1]  # the members, without the brackets


JSON_END = b"]"


def stats_csv(stats: LinkStats) -> bytes:
    """The stats as one long table, `kind,value,clicks`: the totals (no value), the series
    (the slot's start), then each breakdown (its value): one shape a spreadsheet or a
    dataframe reads as it is."""
    rows: list[tuple[str, str, str]] = [
        ("from", iso_time(stats.from_), ""),
        ("to", iso_time(stats.to), ""),
        ("interval", stats.interval, ""),
        ("total", "", str(stats.total)),
        ("unique_visitors", "", str(stats.unique_visitors)),
        ("bot_clicks", "", str(stats.bot_clicks)),
    ]
    rows += [("timeseries", iso_time(p.ts), str(p.clicks)) for p in stats.timeseries]
    for field in DIMENSIONS.values():
        breakdown = getattr(stats, field)
        rows += [(field, _cell(b.value), str(b.clicks)) for b in breakdown]
    return _csv([STATS_COLUMNS, *rows])
