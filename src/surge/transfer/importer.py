"""`surge import`: links from a peer's export, each checked by the links API's own rules.

A row becomes a link whole (with its tags and click baseline, in one transaction) or not at
all; a bad row is reported with its line and skipped. Running an import again changes nothing:
a slug that is already here with the same target is skipped as present.
"""

from __future__ import annotations

import argparse
import codecs
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from tqdm import tqdm

from surge.cli_support import CliError, current_sessions
from surge.links.schemas import LinkCreate
from surge.links.targets import target_problem
from surge.platform.clock import utc_now
from surge.platform.config import Settings
from surge.platform.db import SessionMaker, transaction
from surge.transfer.formats import Candidate, read
from surge.transfer.owners import owner_named
from surge.transfer.repository import NewLink, Owner, TransferRepository
from surge.transfer.sources import decode

BATCH = 500  # links per transaction: few round trips, short locks


@dataclass(slots=True)
class ImportSummary:
    owner: Owner
    owner_defaulted: bool  # no --owner: the first admin
    rows: int = 0
    imported: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)

    def lines(self) -> list[str]:
        whose = f"{self.owner.email}" + (
            " (no --owner: the first admin)" if self.owner_defaulted else ""
        )
        done = [
            f"imported {self.imported:,} of {self.rows:,} links, owned by {whose}",
            f"skipped {len(self.skipped):,} already present",
            f"rejected {len(self.rejected):,}" + (":" if self.rejected else ""),
        ]
        return done + [f"  {where}: {why}" for where, why in self.rejected]


def check(candidate: Candidate, settings: Settings, now: datetime) -> NewLink | str:
    """The link a row makes under the links API's own rules, or why it makes none."""
    try:
        body = LinkCreate.model_validate(
            {
                "url": candidate.url,
                "slug": candidate.slug,
                "redirect_type": candidate.redirect_type,
                "expires_at": candidate.expires_at,
                "max_clicks": candidate.max_clicks,
                "tags": list(candidate.tags),
            }
        )
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        return f"{where}: {message} (got {str(error['input'])[:80]!r})"
    problem = target_problem(
        body.url, public_host=settings.public_host, blocked=settings.blocked_hosts
    )
    if problem:
        return f"url: {problem}"
    assert body.slug is not None  # every format requires one
    return NewLink(
        slug=body.slug,
        url=body.url,
        redirect_type=body.redirect_type,
        expires_at=body.expires_at,
        max_clicks=body.max_clicks,
        tags=tuple(body.tags),
        created_at=candidate.created_at or now,
        clicks=candidate.clicks,
        bot_clicks=candidate.bot_clicks,
    )


async def import_links(
    sessions: SessionMaker,
    settings: Settings,
    fmt: str,
    text: str,
    *,
    owner_email: str | None = None,
    progress: bool = False,
) -> ImportSummary:
    owner = await _owner(sessions, owner_email)
    summary = ImportSummary(owner, owner_defaulted=owner_email is None)
    rows = list(read(fmt, text))
    summary.rows = len(rows)
    now = utc_now()
    seen: dict[str, tuple[str, str]] = {}  # slug → (where, url) of its first row in the file
    batch: list[tuple[str, NewLink]] = []
    with tqdm(total=len(rows), unit="row", disable=not progress, desc="import") as bar:
        for where, parsed in rows:
            made = check(parsed, settings, now) if isinstance(parsed, Candidate) else parsed
            if isinstance(made, str):
                summary.rejected.append((where, made))
            elif made.slug in seen:
                first, url = seen[made.slug]
                if url == made.url:
                    summary.skipped.append((where, f"repeats {first}"))
                else:
                    summary.rejected.append(
                        (where, f"slug '{made.slug}' is used by {first} for another URL")
                    )
            else:
                seen[made.slug] = (where, made.url)
                batch.append((where, made))
            if len(batch) >= BATCH:
                await _write(sessions, owner, batch, now, summary)
                batch = []
            bar.update(1)
        await _write(sessions, owner, batch, now, summary)
    order = {where: i for i, (where, _) in enumerate(rows)}
    summary.skipped.sort(key=lambda item: order[item[0]])
    summary.rejected.sort(key=lambda item: order[item[0]])
    return summary


async def _owner(sessions: SessionMaker, email: str | None) -> Owner:
    async with sessions() as session:
        if email is None:
            owner = await TransferRepository(session).first_admin()
            if owner is None:
                raise CliError(
                    "no admin user to own the links: pass --owner EMAIL, or create one with "
                    "`surge users create --email EMAIL --admin`"
                )
            return owner
    user = await owner_named(sessions, email)
    return Owner(user.id, user.email)


async def _write(
    sessions: SessionMaker,
    owner: Owner,
    batch: Iterable[tuple[str, NewLink]],
    now: datetime,
    summary: ImportSummary,
) -> None:
    wanted = dict(batch)
    if not wanted:
        return
    try:
        async with transaction(sessions) as session:
            repo = TransferRepository(session)
            taken = await repo.targets_of(link.slug for link in wanted.values())
            new = []
            for where, link in wanted.items():
                if link.slug not in taken:
                    new.append(link)
                elif taken[link.slug] == link.url:
                    summary.skipped.append((where, "already present"))
                else:
                    summary.rejected.append(
                        (where, f"slug '{link.slug}' is taken here by a link to another URL")
                    )
            await repo.add(owner.id, new, now)
    except IntegrityError as exc:  # a slug was taken between the check and the insert
        raise CliError(
            "a link was created meanwhile with one of these slugs; run the import again "
            "(what is already imported is skipped)"
        ) from exc
    summary.imported += len(new)


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
        summary = await import_links(
            sessions,
            settings,
            args.format,
            text,
            owner_email=args.owner,
            progress=sys.stderr.isatty(),
        )
    print("\n".join(summary.lines()))
    return 1 if summary.rejected else 0
