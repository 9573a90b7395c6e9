"""Dashboard pages for many links at once: a CSV import (upload, a preview with each row's
problem by its line, then create), and the links list's selection tagged, untagged or deleted
(after a confirmation). Each goes through the links domain's batches (surge.links.bulk), as
`/api/v1/links/bulk...` does."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.datastructures import UploadFile
from starlette.responses import Response

from surge.accounts.user_repository import User
from surge.dashboard.pages import CheckedForm, SignedIn, render, see_other
from surge.links.bulk import Outcome
from surge.links.bulk_schemas import MAX_BATCH, BulkSelection, BulkTagging
from surge.links.deps import BulkLinksDep
from surge.links.repository import Link
from surge.links.schemas import LinkOut
from surge.platform.deps import SettingsDep
from surge.platform.problems import ProblemError
from surge.platform.validation import error_message
from surge.transfer.sources import decode
from surge.transfer.spreadsheet import sheet_rows

router = APIRouter(prefix="/app", include_in_schema=False)
IMPORT_PATH = "/app/import"  # takes a file: SURGE_MAX_BATCH_BODY_BYTES
BATCH_NOTE = "batch_note"  # the session's one-time note for the list after a batch


@dataclass(slots=True, frozen=True)
class RowOutcome:
    """A row of the import as the preview (or the result) shows it."""

    where: str
    body: dict[str, Any]
    link: LinkOut | None  # created (None in a preview: it would be)
    problem: str | None


def _problem_text(problem: ProblemError) -> str:
    """What is wrong with a row, for people: each field and its message."""
    errors = problem.extra.get("errors")
    if not isinstance(errors, list) or not errors:
        return problem.detail or problem.problem.title
    lines = []
    for error in errors:
        field = ".".join(map(str, error["loc"][1:])) or "row"
        lines.append(f"{field}: {error_message(error)}")
    return "; ".join(lines)


async def _import_rows(
    text: str, user_id: int, bulk: BulkLinksDep, public_url: str, *, dry_run: bool
) -> tuple[list[RowOutcome], str | None]:
    """Each row of the CSV `text` and what it comes (or would come) to; or why the file is
    refused whole (too many rows)."""
    rows = list(sheet_rows(text))
    readable = [row for row in rows if row.body is not None]
    if len(readable) > MAX_BATCH:
        return [], f"The file has {len(readable)} links: at most {MAX_BATCH} an import."
    outcomes: list[Outcome] = []
    if readable:
        bodies = [row.body for row in readable]
        outcomes = await bulk.create(user_id, bodies, dry_run=dry_run)
    by_row = iter(outcomes)
    shown = []
    for row in rows:
        if row.body is None:
            shown.append(RowOutcome(row.where, {}, None, row.problem))
            continue
        outcome = next(by_row)
        if isinstance(outcome, ProblemError):
            shown.append(RowOutcome(row.where, row.body, None, _problem_text(outcome)))
        else:
            link = None if dry_run else LinkOut.of(outcome, public_url)
            shown.append(RowOutcome(row.where, row.body, link, None))
    return shown, None


async def _import_page(
    request: Request, user: User, bulk: BulkLinksDep, public_url: str, text: str, *, preview: bool
) -> Response:
    """The import's page after a preview (`text` kept in the page to be sent back by create)
    or after create."""
    rows, refused = await _import_rows(text, user.id, bulk, public_url, dry_run=preview)
    return render(
        request,
        "import.html",
        user,
        422 if refused else 200,
        rows=rows,
        csv_text=text if preview else "",
        refused=refused,
        created=not preview,
    )


@router.get("/import")
async def import_form(request: Request, user: SignedIn) -> Response:
    return render(request, "import.html", user, rows=None, csv_text="")


@router.post("/import", dependencies=[CheckedForm])
async def import_preview(
    request: Request, user: SignedIn, bulk: BulkLinksDep, settings: SettingsDep
) -> Response:
    """The uploaded file read, each row checked as its create would be; nothing created."""
    upload = (await request.form()).get("file")
    if not isinstance(upload, UploadFile):
        return render(
            request, "import.html", user, 422, rows=None, csv_text="", refused="Choose a CSV file."
        )
    text = decode(await upload.read(), "utf-8")
    return await _import_page(request, user, bulk, settings.public_url, text, preview=True)


@router.post("/import/create", dependencies=[CheckedForm])
async def import_create(
    request: Request, user: SignedIn, bulk: BulkLinksDep, settings: SettingsDep
) -> Response:
    """The previewed file (sent back with the form) created: its good rows, in one batch."""
    text = (await request.form()).get("csv")
    text = text if isinstance(text, str) else ""
    return await _import_page(request, user, bulk, settings.public_url, text, preview=False)


# --- the list's selection ------------------------------------------------------------------


def _selected(values: list[str]) -> dict[str, list[str]]:
    """The ticked links ("host/slug" each) by domain."""
    by_domain: dict[str, list[str]] = defaultdict(list)
    for value in values[:MAX_BATCH]:
        host, _, slug = value.rpartition("/")
        if host and slug:
            by_domain[host].append(slug)
    return by_domain


def _tally(outcomes: list[Outcome]) -> tuple[int, int]:
    done = sum(isinstance(o, Link) for o in outcomes)
    return done, len(outcomes) - done


@router.post("/batch", dependencies=[CheckedForm])
async def batch(request: Request, user: SignedIn, bulk: BulkLinksDep) -> Response:
    """Tag, untag or (once confirmed) delete the ticked links of the list."""
    form = await request.form()
    action = str(form.get("action"))
    if action not in ("tag", "untag", "delete"):
        return see_other("/app/links")
    ticked = [v for v in form.getlist("link") if isinstance(v, str)]
    chosen = _selected(ticked)
    if not chosen:
        request.session[BATCH_NOTE] = "Tick the links to change first."
        return see_other("/app/links")
    if action == "delete" and form.get("confirmed") != "yes":
        return render(request, "confirm_batch_delete.html", user, ticked=ticked)
    tag = str(form.get("tag") or "").strip()
    if action in ("tag", "untag") and not tag:
        request.session[BATCH_NOTE] = "Name the tag to add or remove."
        return see_other("/app/links")
    done, failed = 0, 0
    for host, slugs in chosen.items():
        try:
            if action == "delete":
                selection = BulkSelection(slugs=slugs, domain=host)
                outcomes = await bulk.delete(user.owner_scope, selection)
            else:
                change = {"add" if action == "tag" else "remove": [tag]}
                tagging = BulkTagging(slugs=slugs, domain=host, **change)
                outcomes = await bulk.retag(user.owner_scope, tagging, tagging.add, tagging.remove)
        except ValidationError:
            request.session[BATCH_NOTE] = f"'{tag}' is not a tag (A-Z, a-z, 0-9, _ . : -)."
            return see_other("/app/links")
        counted = _tally(outcomes)
        done, failed = done + counted[0], failed + counted[1]
    verb = {"delete": "deleted", "tag": f"tagged {tag}", "untag": f"untagged {tag}"}[action]
    note = f"{done} link{'' if done == 1 else 's'} {verb}."
    if failed:
        note += f" {failed} could not be (no longer there, or too many tags)."
    request.session[BATCH_NOTE] = note
    return see_other("/app/links")


def batch_note(request: Request) -> str | None:
    """What the last batch did, once."""
    note = request.session.pop(BATCH_NOTE, None)
    return note if isinstance(note, str) else None
