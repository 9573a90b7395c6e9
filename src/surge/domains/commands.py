"""`surge domains ...`: short domains from the command line, registered on the `surge` command
by `add_commands`. Only the standard library at import (cli.py imports this for every command);
the service is imported when a domains command runs."""

from __future__ import annotations

import argparse
import asyncio
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from surge.platform.config import Settings

NAMES = frozenset({"domains"})


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    domains = commands.add_parser("domains", help="manage short domains and their redirects")
    sub = domains.add_subparsers(dest="domains_command", required=True)
    sub.add_parser("list", help="every domain, the default one first, with its redirects")
    for name, what in (("add", "add a domain"), ("set", "set a domain's redirects (all three)")):
        command = sub.add_parser(name, help=what)
        command.add_argument("host", help="the domain's name, e.g. s.example.com")
        command.add_argument("--root-url", help="where `/` goes")
        command.add_argument("--not-found-url", help="where an unknown slug goes")
        command.add_argument("--expired-url", help="where an expired link goes")
    remove = sub.add_parser("remove", help="remove a domain that has no links")
    remove.add_argument("host")


def dispatch(args: argparse.Namespace, settings: Settings) -> int:
    from surge.domains.cli import run_domains

    print(asyncio.run(run_domains(settings, args)))
    return 0
