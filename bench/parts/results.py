"""The one results writer: every bench's figures go to bench/results/<name>-<UTC time>.json.

bench/summary.py reads the newest file of each name; deploy/ci/perf_gate.py globs
bench/results/redirect-*.json (bench/redirect.py's). The directory is gitignored.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent.parent / "results"


def write_json(path: Path, payload: Any) -> Path:
    """`payload` as indented JSON at `path` (its folder created), e.g. bench/summary.py's."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path


def save(name: str, payload: Any) -> Path:
    """bench/results/<name>-<UTC time>.json; returns its path."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return write_json(RESULTS_DIR / f"{name}-{stamp}.json", payload)


def display(path: Path) -> str:
    """`path` relative to the working directory when it is under it, as printed."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
