"""`surge import FILE`: read the file, let TransferService import it, print the summary."""

from __future__ import annotations

import argparse
import codecs
import sys
from pathlib import Path

from surge.cli_support import CliError, current_sessions
from surge.platform.config import Settings
from surge.transfer.service import TransferService
from surge.transfer.sources import decode


def _read_bytes(name: str) -> bytes:
    if name == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(name).read_bytes()
    except OSError as exc:
        raise CliError(f"{name}: {exc.strerror or exc}") from exc


async def run_import(settings: Settings, args: argparse.Namespace) -> int:
    """`surge import`: the summary on stdout; exit 1 when some rows were rejected."""
    try:
        codecs.lookup(args.encoding)
    except LookupError:
        raise CliError(f"--encoding: unknown encoding {args.encoding!r}") from None
    text = decode(_read_bytes(args.file), args.encoding)
    async with current_sessions(settings) as sessions:
        summary = await TransferService(sessions, settings).import_links(
            args.format, text, owner_email=args.owner, progress=sys.stderr.isatty()
        )
    print("\n".join(summary.lines()))
    return 1 if summary.rejected else 0
