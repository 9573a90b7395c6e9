"""The OpenAPI description of downloads: what a 200 of each is, in each format.

A CSV body is described as a string (no schema to validate it against, and none is claimed);
the JSON of visits as the array it is.
"""

from __future__ import annotations

from typing import Any

from surge.data.visit_export import VISIT_COLUMNS, ExportedVisit

_DISPOSITION = {
    "Content-Disposition": {
        "description": 'A download\'s name: `attachment; filename="{slug}-visits.csv"` '
        "(`-visits.json`, `-stats.csv`).",
        "schema": {"type": "string"},
    }
}
_CSV = {"schema": {"type": "string"}}


def _visit_schema() -> dict[str, Any]:
    schema = ExportedVisit.model_json_schema(mode="serialization")
    schema["properties"]["time"] = {
        "type": "string",
        "format": "date-time",
        "description": "UTC, to the microsecond: 2026-12-07T11:53:46.123456Z",
    }
    return schema


VISITS_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The visits, streamed: `format=json` a JSON array, `format=csv` CSV "
        f"with a header row ({', '.join(VISIT_COLUMNS)}; an empty cell is none, a cell a "
        "spreadsheet would read as a formula starts with `'`).",
        "headers": _DISPOSITION,
        "content": {
            "application/json": {"schema": {"type": "array", "items": _visit_schema()}},
            "text/csv": _CSV,
        },
    }
}

STATS_CSV_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The stats: JSON, or with `format=csv` a CSV download.",
        "headers": _DISPOSITION,
        "content": {"text/csv": _CSV},
    }
}
