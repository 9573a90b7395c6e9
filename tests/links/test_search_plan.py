"""Search on PostgreSQL is served by the trigram index, not by reading every link.

asyncpg prepares each statement once per connection and PostgreSQL, after five runs of one, may
switch to a generic plan made without the term. So each test runs the search through one
session more often than that and asks PostgreSQL for the plan of that very prepared statement:
what the next run of it would do.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from surge.accounts.keys import KeyService
from surge.links.repository import Link, LinkRepository
from surge.platform.db import create_sessionmaker
from tests.helpers import analyze, engine_on, plan_nodes, sql_sent

RUNS = 8  # more than the five custom plans PostgreSQL makes before it weighs a generic one
LINKS = 100_000  # the size at which the generic plan used to walk every link for a rare term


async def seeded_owner(engine: AsyncEngine) -> int:
    """An owner of LINKS links shaped as `surge seed` makes them, with planner statistics."""
    owner = (await KeyService(create_sessionmaker(engine)).create("search")).user_id
    async with engine.begin() as conn:
        # In one statement: at this size a scan no longer pays, as in use.
        await conn.exec_driver_sql(
            "INSERT INTO links (slug, url, redirect_type, owner_id, created_at, updated_at) "
            "SELECT 'seed-a1b2c3-' || i, 'https://example.com/landing/' || i, 302, $1, now(), "
            f"now() FROM generate_series(0, {LINKS - 1}) AS i",
            (owner,),
        )
    await analyze(engine)
    return owner


async def searched(
    engine: AsyncEngine, owner: int | None, q: str, **page: Any
) -> tuple[list[Link], list[dict[str, Any]]]:
    """The first page for `q`, run RUNS times on one connection, and the plan of its next run."""
    async with create_sessionmaker(engine)() as session:
        with sql_sent(engine) as sent:
            for _ in range(RUNS):
                found = await LinkRepository(session).page(
                    owner, before_id=page.get("before_id"), limit=51, tag=page.get("tag"), q=q
                )
        statement, parameters = next((s, p) for s, p in sent if "ILIKE" in s.upper())
        return found, await prepared_plan(session, statement, parameters)


async def prepared_plan(
    session: AsyncSession, statement: str, parameters: Any
) -> list[dict[str, Any]]:
    """The plan PostgreSQL would use for the next run of a statement the driver prepared, in
    the transaction (and so with the settings) it ran in."""
    conn = await session.connection()
    name = (
        await conn.exec_driver_sql(
            "SELECT name FROM pg_prepared_statements WHERE statement = $1", (statement,)
        )
    ).scalar_one()
    # EXECUTE takes no bound parameters: the values go in as literals.
    arguments = ", ".join(
        str(value) if isinstance(value, int) else "'" + value.replace("'", "''") + "'"
        for value in parameters
    )
    return await plan_nodes(conn, f"EXECUTE {name}({arguments})", ())


def indexes(nodes: list[dict[str, Any]]) -> set[str]:
    return {n["Index Name"] for n in nodes if "Index Name" in n}


def walks_links(nodes: list[dict[str, Any]]) -> bool:
    """Whether the plan reads links one by one, newest first or all, to test the term."""
    return any(
        n.get("Relation Name") == "links"
        and (n["Node Type"] == "Seq Scan" or n.get("Scan Direction") == "Backward")
        for n in nodes
    )


async def test_a_rare_term_is_found_through_the_trigram_index(migrated_pg_url: str) -> None:
    async with engine_on(migrated_pg_url) as engine:
        owner = await seeded_owner(engine)
        for q in ("landing/27182", "zz-no-such-link"):
            found, nodes = await searched(engine, owner, q)
            assert [link.slug for link in found] == (["seed-a1b2c3-27182"] if "2" in q else [])
            assert "ix_links_search_trgm" in indexes(nodes), (q, indexes(nodes))
            assert not walks_links(nodes)
        # Everyone's links (an admin) and the next page: the index too.
        for owner_id, before_id in ((None, None), (owner, 50_000)):
            _, nodes = await searched(engine, owner_id, "zz-no-such-link", before_id=before_id)
            assert "ix_links_search_trgm" in indexes(nodes), (owner_id, indexes(nodes))
        # With a tag, its few links may come first (none has it here); no walk either way.
        _, nodes = await searched(engine, owner, "zz-no-such-link", tag="t")
        assert not walks_links(nodes)


async def test_a_common_term_walks_the_newest_links_and_stops_at_a_page(
    migrated_pg_url: str,
) -> None:
    async with engine_on(migrated_pg_url) as engine:
        owner = await seeded_owner(engine)
        found, nodes = await searched(engine, owner, "example.com")
        assert [link.slug for link in found] == [
            f"seed-a1b2c3-{i}" for i in range(LINKS - 1, LINKS - 52, -1)
        ]
        # Every link matches: reading all of them through the index and sorting would be the
        # slow way (~200 ms at this size); newest first by id, a page is read and no more.
        assert "ix_links_search_trgm" not in indexes(nodes), indexes(nodes)
        assert not [n for n in nodes if n["Node Type"] in ("Sort", "Seq Scan")]
        assert walks_links(nodes)
