"""`surge import` and `surge export`, registered on the `surge` command by `add_commands`.

Only the standard library at import: cli.py imports this module for every command, and a
`surge serve --service redirect` process must not load SQLAlchemy (the importer and exporter
are imported only when one of these two runs).
"""

from __future__ import annotations

import argparse
import asyncio
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from surge.platform.config import Settings

NAMES = frozenset({"import", "export"})
# The same as surge.transfer.formats.FORMATS, which this module may not import (SQLAlchemy-free
# is the point); tests/transfer checks that the two agree.
IMPORT_FORMATS = ("shlink", "kutt", "yourls", "bitly", "csv")


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    into = commands.add_parser(
        "import",
        help="import links from Shlink, Kutt, YOURLS, Bitly or `surge export` (idempotent)",
    )
    into.add_argument("--format", choices=IMPORT_FORMATS, required=True)
    into.add_argument("file", metavar="FILE", help="the export to read ('-': standard input)")
    into.add_argument(
        "--owner", metavar="EMAIL", help="who owns the links (default: the first admin)"
    )
    into.add_argument(
        "--encoding", default="utf-8", help="the file's text encoding (default: utf-8)"
    )

    out = commands.add_parser(
        "export", help="export links, with tags and click counts, for `surge import`"
    )
    out.add_argument("--format", choices=("csv", "json"), default="csv")
    out.add_argument("--owner", metavar="EMAIL", help="only this user's links (default: all)")
    out.add_argument("--output", metavar="FILE", help="write here (default: standard output)")


def dispatch(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "import":
        from surge.transfer.importer import run_import

        return asyncio.run(run_import(settings, args))
    from surge.transfer.exporter import run_export

    return asyncio.run(run_export(settings, args))
