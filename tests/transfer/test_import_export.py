"""`surge import` and `surge export` on a real database (SQLite, and PostgreSQL): what lands,
what is skipped on a second run, what is refused and why, and the export → import round trip."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from surge.accounts.users import UserService
from surge.cli_support import CliError
from surge.data.tables import links
from surge.domains.repository import DomainRedirects, DomainRepository
from surge.links.repository import LinkRepository
from surge.platform.config import Settings
from surge.platform.db import SessionMaker, transaction
from surge.transfer.service import TransferService
from tests.services import truncate_all

SHLINK = """createdAt,domain,shortCode,shortUrl,longUrl,title,tags,visits
2024-03-01T10:15:00+01:00,s.example,launch,https://s.example/launch,https://example.com/launch,Launch,news|summer,1234
2024-03-02T08:00:00+00:00,s.example,guide,https://s.example/guide,https://example.com/docs,,,0
2024-03-02T08:00:00+00:00,s.example,api,https://s.example/api,https://example.com/api,,,0
2024-03-02T08:00:00+00:00,s.example,home,https://s.example/home,http://printer.local/,,,0
2024-03-02T08:00:00+00:00,s.example,guide,https://s.example/guide,https://example.com/other,,,0
2024-03-02T08:00:00+00:00,s.example,launch,https://s.example/launch,https://example.com/launch,,,0
2024-03-02T08:00:00+00:00,s.example,bad tag,https://s.example/x,https://example.com/x,,,0
"""

ADMIN = "admin@example.com"


@pytest.fixture
async def admin(sessions: SessionMaker) -> str:
    users = UserService(sessions)
    await users.create("first-user@example.com", password="p" * 12)  # not an admin
    await users.create(ADMIN, password="p" * 12, is_admin=True)
    return ADMIN


async def slugs_in(sessions: SessionMaker) -> dict[str, tuple[str, ...]]:
    async with sessions() as session:
        rows = (await session.execute(select(links.c.slug, links.c.url))).all()
    return dict(rows)


async def test_an_import_keeps_links_whole_and_reports_every_bad_row(
    sessions: SessionMaker, settings: Settings, admin: str
) -> None:
    summary = await TransferService(sessions, settings).import_links("shlink", SHLINK)
    assert summary.owner.email == admin
    assert summary.owner_defaulted
    assert summary.imported == 2
    assert summary.skipped == [("line 7", "repeats line 2")]
    assert [where for where, _ in summary.rejected] == ["line 4", "line 5", "line 6", "line 8"]
    why = dict(summary.rejected)
    assert "reserved" in why["line 4"]
    assert "local host name" in why["line 5"]
    assert "line 3 for another URL" in why["line 6"]
    assert why["line 8"].startswith("slug:")
    lines = summary.lines()
    assert lines[0] == f"imported 2 of 7 links, owned by {admin} (no --owner: the first admin)"
    assert "  line 5: url: a link may not point at a local host name" in lines

    async with sessions() as session:
        launch = await LinkRepository(session).by_slug("launch")
        imported = (
            await session.execute(select(links.c.imported_clicks).where(links.c.slug == "launch"))
        ).scalar_one()
    assert launch is not None
    assert launch.values.url == "https://example.com/launch"
    assert launch.values.tags == ("news", "summer")
    assert launch.created_at == datetime(2024, 3, 1, 9, 15, tzinfo=UTC)
    assert imported == 1234


async def test_running_an_import_twice_changes_nothing(
    sessions: SessionMaker, settings: Settings, admin: str
) -> None:
    await TransferService(sessions, settings).import_links("shlink", SHLINK)
    before = await slugs_in(sessions)
    again = await TransferService(sessions, settings).import_links("shlink", SHLINK)
    assert again.imported == 0
    assert again.skipped == [
        ("line 2", "already present"),
        ("line 3", "already present"),
        ("line 7", "repeats line 2"),
    ]
    assert len(again.rejected) == 4  # the same bad rows, refused again for the same reasons
    assert await slugs_in(sessions) == before


async def test_a_slug_taken_here_by_another_target_is_refused_not_overwritten(
    sessions: SessionMaker, settings: Settings, admin: str
) -> None:
    await TransferService(sessions, settings).import_links(
        "yourls", "launch,https://mine.example/,t,2023-01-01 00:00:00,::1,0\n"
    )
    summary = await TransferService(sessions, settings).import_links("shlink", SHLINK)
    assert ("line 2", "slug 'launch' is taken here by a link to another URL") in summary.rejected
    assert (await slugs_in(sessions))["launch"] == "https://mine.example/"


async def test_owner_must_exist_and_defaults_to_an_admin(
    sessions: SessionMaker, settings: Settings
) -> None:
    with pytest.raises(CliError, match="no admin user"):
        await TransferService(sessions, settings).import_links("shlink", SHLINK)
    await UserService(sessions).create("ada@example.com", password="p" * 12)
    with pytest.raises(CliError, match=r"no user nobody@example\.com"):
        await TransferService(sessions, settings).import_links(
            "shlink", SHLINK, owner_email="nobody@example.com"
        )
    summary = await TransferService(sessions, settings).import_links(
        "shlink", SHLINK, owner_email="ADA@example.com"
    )
    assert (summary.owner.email, summary.owner_defaulted) == ("ada@example.com", False)
    assert summary.lines()[0] == "imported 2 of 7 links, owned by ada@example.com"


async def test_export_then_import_into_an_empty_database_gives_the_same_links(
    sessions: SessionMaker, settings: Settings, admin: str
) -> None:
    csv_in = (
        "slug,url,redirect_type,expires_at,max_clicks,tags,created_at,clicks,bot_clicks,owner,"
        "domain,rules,title,valid_since,forward_query,crawlable\n"
        "one,https://example.com/1,301,2030-01-01T00:00:00+00:00,100,a|b,"
        "2024-01-01T00:00:00+00:00,12,3,,,,Launch,2024-01-02T00:00:00+00:00,false,true\n"
        "two,https://example.com/2?q=a%2Cb&x=1,302,,,,2024-02-01T10:00:00+00:00,0,0,,,,,,,\n"
    )
    first = await TransferService(sessions, settings).import_links("csv", csv_in)
    assert first.imported == 2
    out = io.StringIO()
    assert await TransferService(sessions, settings).export_links(out, "csv") == 2
    exported = out.getvalue()
    assert exported.splitlines()[1] == (
        "one,https://example.com/1,301,2030-01-01T00:00:00+00:00,100,a|b,"
        f"2024-01-01T00:00:00+00:00,12,3,{admin},,"  # the default domain, no rules
        ",Launch,2024-01-02T00:00:00+00:00,false,true"
    )
    assert exported.splitlines()[2].endswith(",,,,true,false")  # defaults: forwards, hidden

    async with sessions() as session:
        repo = LinkRepository(session)
        before = [await repo.by_slug(s) for s in ("one", "two")]
    await truncate_all(settings.database_url)
    await UserService(sessions).create("new-admin@example.com", password="p" * 12, is_admin=True)
    again = await TransferService(sessions, settings).import_links("csv", exported)
    assert (again.imported, again.rejected) == (2, [])
    async with sessions() as session:
        repo = LinkRepository(session)
        after = [await repo.by_slug(s) for s in ("one", "two")]
    for old, new in zip(before, after, strict=True):
        assert old is not None
        assert new is not None
        assert (new.slug, new.values, new.created_at) == (old.slug, old.values, old.created_at)
    moved = io.StringIO()
    await TransferService(sessions, settings).export_links(moved, "csv")
    assert moved.getvalue() == exported.replace(admin, "new-admin@example.com")


async def test_export_as_json_and_for_one_owner(
    sessions: SessionMaker, settings: Settings, admin: str
) -> None:
    await TransferService(sessions, settings).import_links("shlink", SHLINK)
    await UserService(sessions).create("ada@example.com", password="p" * 12)
    await TransferService(sessions, settings).import_links(
        "kutt",
        "address,target,visit_count,created_at\nk1,https://example.org/k,5,2024-01-01\n",
        owner_email="ada@example.com",
    )
    out = io.StringIO()
    assert (
        await TransferService(sessions, settings).export_links(
            out, "json", owner_email="ada@example.com"
        )
        == 1
    )
    assert json.loads(out.getvalue()) == {
        "links": [
            {
                "slug": "k1",
                "url": "https://example.org/k",
                "redirect_type": 302,
                "expires_at": None,
                "max_clicks": None,
                "tags": [],
                "created_at": "2024-01-01T00:00:00+00:00",
                "clicks": 5,
                "bot_clicks": 0,
                "owner": "ada@example.com",
                "domain": None,
                "rules": [],
                "title": None,
                "valid_since": None,
                "forward_query": True,
                "crawlable": False,
            }
        ]
    }
    with pytest.raises(CliError, match="no user"):
        await TransferService(sessions, settings).export_links(
            io.StringIO(), "csv", owner_email="who@example.com"
        )


async def test_domains_and_redirect_rules_survive_export_and_import(
    sessions: SessionMaker, settings: Settings, admin: str
) -> None:
    ios = {"url": "https://example.com/ios", "conditions": [{"type": "device", "value": "ios"}]}
    rule = json.dumps([ios]).replace('"', '""')  # quoted as CSV quotes
    header = (
        "slug,url,redirect_type,expires_at,max_clicks,tags,created_at,clicks,bot_clicks,owner,"
        "domain,rules\n"
    )
    csv_in = (
        header
        + "twin,https://example.com/home,302,,,,,0,0,,,\n"
        + f'twin,https://example.org/away,302,,,,,0,0,,go.example.com,"{rule}"\n'
    )
    refused = await TransferService(sessions, settings).import_links("csv", csv_in)
    assert refused.imported == 1  # go.example.com is not a domain here yet
    assert "no domain go.example.com" in refused.rejected[0][1]
    async with transaction(sessions) as session:
        await DomainRepository(session).add("go.example.com", DomainRedirects(), datetime.now(UTC))
    again = await TransferService(sessions, settings).import_links("csv", csv_in)
    assert (again.imported, len(again.skipped)) == (1, 1)  # the same slug, on its own domain
    out = io.StringIO()
    assert await TransferService(sessions, settings).export_links(out, "csv") == 2
    rows = out.getvalue().splitlines()
    assert rows[2].split(",")[10] == "go.example.com"
    async with sessions() as session:
        away = await LinkRepository(session).by_slug("twin", domain="go.example.com")
    assert away is not None
    assert [c.value for r in away.values.rules for c in r.conditions] == ["ios"]
    await truncate_all(settings.database_url)
    await UserService(sessions).create("new-admin@example.com", password="p" * 12, is_admin=True)
    async with transaction(sessions) as session:
        await DomainRepository(session).add("go.example.com", DomainRedirects(), datetime.now(UTC))
    moved = await TransferService(sessions, settings).import_links("csv", out.getvalue())
    assert (moved.imported, moved.rejected) == (2, [])
    async with sessions() as session:
        back = await LinkRepository(session).by_slug("twin", domain="go.example.com")
    assert back is not None
    assert back.values.rules == away.values.rules
