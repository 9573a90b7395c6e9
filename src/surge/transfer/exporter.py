"""`surge export`: every link (or one owner's), with what it needs to live elsewhere, as the CSV
`surge import --format csv` reads back, or as JSON for other tools; to a file written whole and
then moved into place, or to standard output."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from surge.cli_support import CliError, current_sessions
from surge.platform.config import Settings
from surge.transfer.service import TransferService


async def run_export(settings: Settings, args: argparse.Namespace) -> int:
    progress = sys.stderr.isatty()
    async with current_sessions(settings) as sessions:
        transfer = TransferService(sessions, settings)
        if args.output is None:
            count = await transfer.export_links(
                sys.stdout, args.format, owner_email=args.owner, progress=progress
            )
        else:
            target = Path(args.output)
            partial = target.with_name(target.name + ".partial")
            try:
                with partial.open("w", encoding="utf-8", newline="") as out:
                    count = await transfer.export_links(
                        out, args.format, owner_email=args.owner, progress=progress
                    )
                partial.replace(target)
            except OSError as exc:
                raise CliError(f"{args.output}: {exc.strerror or exc}") from exc
            finally:
                partial.unlink(missing_ok=True)
    if args.output is not None:
        print(f"exported {count:,} links to {args.output}", file=sys.stderr)
    return 0
