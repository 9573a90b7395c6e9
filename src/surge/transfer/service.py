"""Links in and out of Surge: what `surge import` and `surge export` do, as one service over its
repository. A row of an import becomes a link by the links API's own rules; an export reads
links a page at a time and asks analytics for their click counts.

An imported row becomes a link whole (with its tags and click baseline, in one transaction) or
not at all; a bad row is reported with its line and skipped. Running an import again changes
nothing: a slug that is already here with the same target is skipped as present.
"""

from __future__ import annotations

import csv
import json
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TextIO

from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from tqdm import tqdm

from surge.accounts.user_repository import User
from surge.analytics.clickhouse_repository import ClickHouseClicks
from surge.analytics.service import ClickService
from surge.cli_support import CliError
from surge.links.schemas import LinkCreate
from surge.links.service import with_imported_counts
from surge.links.writes import target_refusal, values_of
from surge.platform.clickhouse import HttpClickHouse
from surge.platform.clock import utc_now
from surge.platform.config import Settings
from surge.platform.db import SessionMaker, transaction
from surge.platform.validation import error_message
from surge.transfer.formats import CSV_COLUMNS, Candidate, as_json, as_row, read
from surge.transfer.owners import first_admin, owner_named
from surge.transfer.repository import ExportedLink, NewLink, TransferRepository

IMPORT_BATCH = 500  # links per transaction: few round trips, short locks
EXPORT_PAGE = 1000  # links per read: one short read each, so a big export blocks nobody


@dataclass(slots=True)
class ImportSummary:
    owner: User
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
                "rules": list(candidate.rules),
                "title": candidate.title,
                "valid_since": candidate.valid_since,
                "forward_query": candidate.forward_query,
                "crawlable": candidate.crawlable,
            }
        )
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        message = error_message(error)
        return f"{where}: {message} (got {str(error['input'])[:80]!r})"
    for where, url in [
        ("url", body.url),
        *((f"rules[{i}].url", r.url) for i, r in enumerate(body.rules)),
    ]:
        problem = target_refusal(url, settings)
        if problem:
            return f"{where}: {problem}"
    assert body.slug is not None  # every format requires one
    return NewLink(
        slug=body.slug,
        values=values_of(body),
        domain=candidate.domain,
        created_at=candidate.created_at or now,
        clicks=candidate.clicks,
        bot_clicks=candidate.bot_clicks,
    )


class TransferService:
    def __init__(self, sessions: SessionMaker, settings: Settings) -> None:
        self.sessions = sessions
        self.settings = settings

    async def import_links(
        self, fmt: str, text: str, *, owner_email: str | None = None, progress: bool = False
    ) -> ImportSummary:
        """The links of a peer's export (`fmt`, see formats.FORMATS), owned by `owner_email`
        (default: the first admin)."""
        if owner_email is None:
            owner = await first_admin(self.sessions)
        else:
            owner = await owner_named(self.sessions, owner_email)
        summary = ImportSummary(owner, owner_defaulted=owner_email is None)
        rows = list(read(fmt, text))
        summary.rows = len(rows)
        now = utc_now()
        async with self.sessions() as session:
            known = await TransferRepository(session).domains()
        # (domain, slug) → (where, url) of its first row in the file
        seen: dict[tuple[str, str], tuple[str, str]] = {}
        batch: list[tuple[str, NewLink]] = []
        with tqdm(total=len(rows), unit="row", disable=not progress, desc="import") as bar:
            for where, parsed in rows:
                made = (
                    check(parsed, self.settings, now) if isinstance(parsed, Candidate) else parsed
                )
                if isinstance(made, NewLink) and made.domain and made.domain not in known:
                    made = f"domain: no domain {made.domain} here (add it: surge domains add)"
                if isinstance(made, str):
                    summary.rejected.append((where, made))
                elif (made.domain, made.slug) in seen:
                    first, url = seen[made.domain, made.slug]
                    if url == made.values.url:
                        summary.skipped.append((where, f"repeats {first}"))
                    else:
                        summary.rejected.append(
                            (where, f"slug '{made.slug}' is used by {first} for another URL")
                        )
                else:
                    seen[made.domain, made.slug] = (where, made.values.url)
                    batch.append((where, made))
                if len(batch) >= IMPORT_BATCH:
                    await self._write(owner, batch, now, summary)
                    batch = []
                bar.update(1)
            await self._write(owner, batch, now, summary)
        order = {where: i for i, (where, _) in enumerate(rows)}
        summary.skipped.sort(key=lambda item: order[item[0]])
        summary.rejected.sort(key=lambda item: order[item[0]])
        return summary

    async def _write(
        self,
        owner: User,
        batch: Iterable[tuple[str, NewLink]],
        now: datetime,
        summary: ImportSummary,
    ) -> None:
        wanted = dict(batch)
        if not wanted:
            return
        try:
            async with transaction(self.sessions) as session:
                repo = TransferRepository(session)
                taken = await repo.targets_of((link.domain, link.slug) for link in wanted.values())
                new = []
                for where, link in wanted.items():
                    if (link.domain, link.slug) not in taken:
                        new.append(link)
                    elif taken[link.domain, link.slug] == link.values.url:
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

    async def exported_links(self, owner_id: int | None) -> AsyncIterator[ExportedLink]:
        """Every link (or `owner_id`'s), oldest first, with its owner and click counts."""
        # Clicks are counted where they live: ClickHouse when SURGE_CLICKHOUSE_URL is set.
        url = self.settings.clickhouse_url
        clickhouse = None if url is None else HttpClickHouse(url)
        try:
            clicks = ClickService(
                self.sessions,
                clickhouse=None if clickhouse is None else ClickHouseClicks(clickhouse),
            )
            async for exported in self._exported_links(owner_id, clicks):
                yield exported
        finally:
            if clickhouse is not None:
                await clickhouse.aclose()

    async def _exported_links(
        self, owner_id: int | None, clicks: ClickService
    ) -> AsyncIterator[ExportedLink]:
        after = 0
        while True:
            async with self.sessions() as session:
                page = await TransferRepository(session).export_page(
                    owner_id, after_id=after, limit=EXPORT_PAGE
                )
            if not page:
                return
            after = page[-1].link.id
            # Click counts from analytics' own service (its rollups), the imported baseline
            # added by the rule every count of visits follows.
            links = [exported.link for exported in page]
            found = await clicks.visit_counts([link.id for link in links])
            counts = with_imported_counts(
                {c.link_id: c for c in found.items},
                {link.id: (link.imported_clicks, link.imported_bot_clicks) for link in links},
            )
            for exported in page:
                counted = counts.get(exported.link.id)
                if counted is not None:
                    exported = replace(exported, clicks=counted.humans, bot_clicks=counted.bots)
                yield exported

    async def export_links(
        self,
        out: TextIO,
        fmt: str,
        *,
        owner_email: str | None = None,
        progress: bool = False,
    ) -> int:
        """Write the links (all, or `owner_email`'s) to `out` as CSV or JSON; how many."""
        owner_id = (await owner_named(self.sessions, owner_email)).id if owner_email else None
        count = 0
        writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
        if fmt == "csv":
            writer.writeheader()
        else:
            out.write('{"links": [')
        with tqdm(unit="link", disable=not progress, desc="export") as bar:
            async for link in self.exported_links(owner_id):
                if fmt == "csv":
                    writer.writerow(as_row(link))
                else:  # one link per line, streamed: the whole export is never held in memory
                    out.write(("\n" if count == 0 else ",\n") + json.dumps(as_json(link)))
                count += 1
                bar.update(1)
        if fmt == "json":
            out.write("\n]}\n")
        return count
