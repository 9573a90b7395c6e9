"""`surge webhooks ...`: webhook endpoints from the command line, registered on the `surge`
command by `add_commands`. Only the standard library at import (cli.py imports this for every
command); the service is imported when a webhooks command runs."""

from __future__ import annotations

import argparse
import asyncio
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from surge.platform.config import Settings

NAMES = frozenset({"webhooks"})
EVENTS = "link.created,link.updated,link.deleted,link.clicked"


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    webhooks = commands.add_parser("webhooks", help="manage webhook endpoints")
    sub = webhooks.add_subparsers(dest="webhooks_command", required=True)
    create = sub.add_parser("create", help="register an endpoint; prints its secret, once")
    create.add_argument("url", help="where events are POSTed, e.g. https://hooks.example.com/in")
    create.add_argument("--user", required=True, help="the owner's email")
    create.add_argument("--events", default=EVENTS, help=f"comma-separated (default: {EVENTS})")
    create.add_argument("--link", help="only this link's events: its slug, or domain/slug")
    create.add_argument("--tag", help="only events of links with this tag")
    listed = sub.add_parser("list", help="every endpoint (or a user's), with its state")
    listed.add_argument("--user", help="only this user's")
    for name, what in (
        ("delete", "remove an endpoint and the events it was not sent"),
        ("enable", "enable a disabled endpoint: it resumes from its first undelivered event"),
    ):
        sub.add_parser(name, help=what).add_argument("id", type=int)
    deliveries = sub.add_parser("deliveries", help="an endpoint's last delivery attempts")
    deliveries.add_argument("id", type=int)
    deliveries.add_argument("--limit", type=int, default=20)


def dispatch(args: argparse.Namespace, settings: Settings) -> int:
    from surge.webhooks.cli import run_webhooks

    print(asyncio.run(run_webhooks(settings, args)))
    return 0
