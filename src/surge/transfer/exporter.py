"""`surge export`: every link (or one owner's), with what it needs to live elsewhere, as the CSV
`surge import --format csv` reads back, or as JSON for other tools."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from tqdm import tqdm

from surge.analytics.service import ClickService
from surge.cli_support import CliError, current_sessions
from surge.links.service import with_imported_counts
from surge.platform.config import Settings
from surge.platform.db import SessionMaker
from surge.transfer.formats import CSV_COLUMNS
from surge.transfer.owners import owner_named
from surge.transfer.repository import ExportedLink, TransferRepository

PAGE = 1000


async def exported_links(
    sessions: SessionMaker, owner_id: int | None
) -> AsyncIterator[ExportedLink]:
    """Oldest first, a page per read (one short read each, so a big export blocks nobody)."""
    after = 0
    while True:
        async with sessions() as session:
            page = await TransferRepository(session).export_page(
                owner_id, after_id=after, limit=PAGE
            )
        if not page:
            return
        after = page[-1].link.id
        # Click counts from analytics' own service (its rollups), the imported baseline added
        # by the rule every count of visits follows.
        links = [exported.link for exported in page]
        found = await ClickService(sessions).visit_counts([link.id for link in links])
        counts = with_imported_counts(
            {c.link_id: c for c in found.items},
            {link.id: (link.imported_clicks, link.imported_bot_clicks) for link in links},
        )
        for exported in page:
            counted = counts.get(exported.link.id)
            if counted is not None:
                exported = replace(exported, clicks=counted.humans, bot_clicks=counted.bots)
            yield exported


def _time(moment: datetime | None) -> str:
    return moment.isoformat() if moment else ""


def as_row(exported: ExportedLink) -> dict[str, Any]:
    link, values = exported.link, exported.link.values
    return {
        "slug": link.slug,
        "url": values.url,
        "redirect_type": values.redirect_type,
        "expires_at": _time(values.expires_at),
        "max_clicks": "" if values.max_clicks is None else values.max_clicks,
        "tags": "|".join(values.tags),  # tags never hold "|" (TAG_PATTERN)
        "created_at": _time(link.created_at),
        "clicks": exported.clicks,
        "bot_clicks": exported.bot_clicks,
        "owner": exported.owner or "",
    }


def as_json(exported: ExportedLink) -> dict[str, Any]:
    values = exported.link.values
    return {
        **as_row(exported),
        "expires_at": _time(values.expires_at) or None,
        "max_clicks": values.max_clicks,
        "tags": list(values.tags),
        "owner": exported.owner,
    }


async def export_links(
    sessions: SessionMaker,
    out: TextIO,
    fmt: str,
    *,
    owner_email: str | None = None,
    progress: bool = False,
) -> int:
    """Write the links to `out`; how many."""
    owner_id = await _owner_id(sessions, owner_email) if owner_email else None
    count = 0
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    if fmt == "csv":
        writer.writeheader()
    else:
        out.write('{"links": [')
    with tqdm(unit="link", disable=not progress, desc="export") as bar:
        async for link in exported_links(sessions, owner_id):
            if fmt == "csv":
                writer.writerow(as_row(link))
            else:  # one link per line, streamed: the whole export is never held in memory
                out.write(("\n" if count == 0 else ",\n") + json.dumps(as_json(link)))
            count += 1
            bar.update(1)
    if fmt == "json":
        out.write("\n]}\n")
    return count


async def _owner_id(sessions: SessionMaker, email: str) -> int:
    return (await owner_named(sessions, email)).id


async def run_export(settings: Settings, args: argparse.Namespace) -> int:
    """`surge export`: to --output (written whole, then moved into place) or stdout."""
    async with current_sessions(settings) as sessions:
        if args.output is None:
            count = await export_links(
                sessions,
                sys.stdout,
                args.format,
                owner_email=args.owner,
                progress=sys.stderr.isatty(),
            )
        else:
            target = Path(args.output)
            partial = target.with_name(target.name + ".partial")
            try:
                with partial.open("w", encoding="utf-8", newline="") as out:
                    count = await export_links(
                        sessions,
                        out,
                        args.format,
                        owner_email=args.owner,
                        progress=sys.stderr.isatty(),
                    )
                partial.replace(target)
            except OSError as exc:
                raise CliError(f"{args.output}: {exc.strerror or exc}") from exc
            finally:
                partial.unlink(missing_ok=True)
    if args.output is not None:
        print(f"exported {count:,} links to {args.output}", file=sys.stderr)
    return 0
