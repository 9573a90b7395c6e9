"""Each peer's export, row by row, as what Surge keeps of a link. Only the mapping lives here:
whether a link is acceptable is decided by the links API's own rules (surge.transfer.service);
what `surge export` writes is `as_row` (CSV, read back by the `csv` format) and `as_json`.

| format | file | columns read |
|---|---|---|
| shlink | the web client's "Export" CSV | shortCode, longUrl, tags (a|b), createdAt, visits |
| kutt | the `links` table as CSV (Kutt has no export) | address, target, visit_count, created_at, expire_in, password, banned |
| yourls | `yourls_url` as CSV (with or without header) or an SQL dump | keyword, url, timestamp, clicks |
| bitly | the links CSV | link (or bitlink), long_url, created_at, clicks, tags |
| csv | `surge export --format csv` | slug, url, redirect_type, expires_at, max_clicks, tags, created_at, clicks, bot_clicks, domain, rules, title, valid_since, forward_query, crawlable |
"""  # noqa: E501  (a table reads better whole)

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from surge.transfer.sources import (
    YOURLS_COLUMNS,
    BadRecord,
    Record,
    csv_records,
    looks_like_sql,
    sql_records,
    undecodable,
)

if TYPE_CHECKING:
    from surge.transfer.repository import ExportedLink

FORMATS = ("shlink", "kutt", "yourls", "bitly", "csv")
CSV_COLUMNS = (
    "slug",
    "url",
    "redirect_type",
    "expires_at",
    "max_clicks",
    "tags",
    "created_at",
    "clicks",
    "bot_clicks",
    "owner",  # who owned it where it was exported; informational (--owner decides on import)
    "domain",  # its short domain ('' the default one); another must exist where it is imported
    "rules",  # its redirect rules as JSON ('' none)
    "title",
    "valid_since",
    "forward_query",  # true or false ('' true, as a new link)
    "crawlable",  # true or false ('' false)
    # A link's password is not exported: its hash would leave with the file.
)
_FALSE = frozenset({"", "0", "f", "false", "no", "null"})


class RowProblem(ValueError):
    """Why a row cannot become a link; reported with the row's line."""


@dataclass(slots=True, frozen=True)
class Candidate:
    """What a row says about a link, parsed but not yet checked against Surge's rules."""

    slug: str
    url: str
    tags: tuple[str, ...] = ()
    created_at: datetime | None = None
    clicks: int = 0
    bot_clicks: int = 0
    redirect_type: int = 302
    expires_at: datetime | None = None
    max_clicks: int | None = None
    domain: str = ""  # '' the default domain
    rules: tuple[dict[str, Any], ...] = ()  # as the links API takes them
    title: str | None = None
    valid_since: datetime | None = None
    forward_query: bool = True
    crawlable: bool = False


def read(fmt: str, text: str) -> Iterator[tuple[str, Candidate | str]]:
    """(where, candidate) for each row of `text` in format `fmt`, or (where, why) for a row
    that could not be read."""
    if fmt == "yourls":
        sql = looks_like_sql(text)
        records = sql_records(text) if sql else csv_records(text, positional=YOURLS_COLUMNS)
    else:
        records = csv_records(text)
    mapper = _MAPPERS[fmt]
    for record in records:
        if isinstance(record, BadRecord):
            yield record.where, record.why
            continue
        problem = undecodable(record.fields)
        if problem:
            yield record.where, problem
            continue
        try:
            yield record.where, mapper(record)
        except RowProblem as exc:
            yield record.where, str(exc)


# --- field parsers -----------------------------------------------------------------------------


def _text(record: Record, *keys: str, required: str | None = None) -> str:
    """The first non-empty of `keys`, stripped; `required` names the column when one must be."""
    for key in keys:
        value = (record.fields.get(key) or "").strip()
        if value:
            return value
    if required:
        raise RowProblem(f"no {required}")
    return ""


def parse_time(value: str, column: str) -> datetime | None:
    """ISO 8601 / RFC 3339, or MySQL's "2024-01-05 10:00:00"; a time without a zone is UTC
    (YOURLS and Kutt on SQLite keep UTC without saying so)."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise RowProblem(f"{column}: not a date and time: {value!r}") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_count(value: str, column: str) -> int:
    """A click count; spreadsheets may write thousands separators."""
    digits = value.replace(",", "").replace("_", "").strip()
    if not digits:
        return 0
    if not digits.isdigit():
        raise RowProblem(f"{column}: not a count of clicks: {value!r}")
    return int(digits)


def _optional_int(value: str, column: str) -> int | None:
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise RowProblem(f"{column}: not a whole number: {value!r}") from None


def _tags(value: str, separators: str = "|") -> tuple[str, ...]:
    """Tags in their order, once each. Bitly and Shlink tags may hold spaces, which Surge's
    may not: "summer sale" becomes "summer-sale" rather than costing the row its link."""
    parts = re.split(f"[{re.escape(separators)}]", value)
    return tuple(dict.fromkeys(re.sub(r"\s+", "-", tag.strip()) for tag in parts if tag.strip()))


def _slug_of_short_url(value: str) -> str:
    """ "bit.ly/abc", "https://bit.ly/abc" → "abc": a short URL's path is its slug."""
    parts = urlsplit(value if "//" in value else "//" + value)
    return parts.path.strip("/")


# --- the formats -------------------------------------------------------------------------------


def _shlink(record: Record) -> Candidate:
    return Candidate(
        slug=_text(record, "shortcode", required="shortCode"),
        url=_text(record, "longurl", required="longUrl"),
        tags=_tags(_text(record, "tags")),
        created_at=parse_time(_text(record, "createdat", "datecreated"), "createdAt"),
        clicks=parse_count(_text(record, "visits", "visitscount"), "visits"),
    )


def _kutt(record: Record) -> Candidate:
    if _text(record, "password").lower() not in _FALSE:
        # Kutt keeps a bcrypt hash, which Surge's argon2 cannot check: importing the link
        # without it would open it to everyone.
        raise RowProblem(
            "password-protected in Kutt, whose bcrypt hash Surge cannot check: make it here "
            "and give it a password (`password` on create)"
        )
    if _text(record, "banned").lower() not in _FALSE:
        raise RowProblem("banned in Kutt")
    return Candidate(
        slug=_text(record, "address", required="address"),
        url=_text(record, "target", required="target"),
        created_at=parse_time(_text(record, "createdat"), "created_at"),
        clicks=parse_count(_text(record, "visitcount"), "visit_count"),
        expires_at=parse_time(_text(record, "expirein"), "expire_in"),
    )


def _yourls(record: Record) -> Candidate:
    return Candidate(
        slug=_text(record, "keyword", required="keyword"),
        url=_text(record, "url", required="url"),
        created_at=parse_time(_text(record, "timestamp"), "timestamp"),
        clicks=parse_count(_text(record, "clicks"), "clicks"),
    )


def _bitly(record: Record) -> Candidate:
    short = _text(record, "link", "bitlink", "shortlink", "shorturl", required="link")
    slug = _slug_of_short_url(short)
    if not slug:
        raise RowProblem(f"link: no back-half in {short!r}")
    return Candidate(
        slug=slug,
        url=_text(record, "longurl", "destination", "destinationurl", required="long_url"),
        # Bitly lets a tag hold spaces but not commas; its CSV lists them comma-separated.
        tags=_tags(_text(record, "tags"), ",|"),
        created_at=parse_time(_text(record, "createdat", "created", "datecreated"), "created_at"),
        clicks=parse_count(_text(record, "clicks", "totalclicks", "engagements"), "clicks"),
    )


def _surge(record: Record) -> Candidate:
    redirect = _optional_int(_text(record, "redirecttype"), "redirect_type")
    return Candidate(
        slug=_text(record, "slug", required="slug"),
        url=_text(record, "url", required="url"),
        tags=_tags(_text(record, "tags")),
        created_at=parse_time(_text(record, "createdat"), "created_at"),
        clicks=parse_count(_text(record, "clicks"), "clicks"),
        bot_clicks=parse_count(_text(record, "botclicks"), "bot_clicks"),
        redirect_type=302 if redirect is None else redirect,
        expires_at=parse_time(_text(record, "expiresat"), "expires_at"),
        max_clicks=_optional_int(_text(record, "maxclicks"), "max_clicks"),
        domain=_text(record, "domain").lower(),
        rules=_rules(_text(record, "rules")),
        title=_text(record, "title") or None,
        valid_since=parse_time(_text(record, "validsince"), "valid_since"),
        forward_query=_flag(_text(record, "forwardquery"), default=True),
        crawlable=_flag(_text(record, "crawlable"), default=False),
    )


def _flag(value: str, *, default: bool) -> bool:
    return default if not value else value.lower() not in _FALSE


def _rules(value: str) -> tuple[dict[str, Any], ...]:
    if not value:
        return ()
    try:
        found = json.loads(value)
    except ValueError:
        raise RowProblem("rules: not JSON") from None
    if not isinstance(found, list) or not all(isinstance(r, dict) for r in found):
        raise RowProblem("rules: a JSON list of rules")
    return tuple(found)


_MAPPERS: dict[str, Callable[[Record], Candidate]] = {
    "shlink": _shlink,
    "kutt": _kutt,
    "yourls": _yourls,
    "bitly": _bitly,
    "csv": _surge,
}


def _time(moment: datetime | None) -> str:
    return moment.isoformat() if moment else ""


def as_row(exported: ExportedLink) -> dict[str, Any]:
    """A link as a row of `surge export --format csv` (CSV_COLUMNS)."""
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
        "domain": link.domain,
        "rules": json.dumps([r.model_dump() for r in values.rules]) if values.rules else "",
        "title": values.title or "",
        "valid_since": _time(values.valid_since),
        "forward_query": "true" if values.forward_query else "false",
        "crawlable": "true" if values.crawlable else "false",
    }


def as_json(exported: ExportedLink) -> dict[str, Any]:
    """A link as an item of `surge export --format json`."""
    values = exported.link.values
    return {
        **as_row(exported),
        "expires_at": _time(values.expires_at) or None,
        "max_clicks": values.max_clicks,
        "tags": list(values.tags),
        "owner": exported.owner,
        "domain": exported.link.domain or None,
        "rules": [r.model_dump() for r in values.rules],
        "title": values.title,
        "valid_since": _time(values.valid_since) or None,
        "forward_query": values.forward_query,
        "crawlable": values.crawlable,
    }
