"""Search on PostgreSQL is served by the trigram indexes, not by reading every link."""

from __future__ import annotations

from surge.api.keys.service import KeyService
from surge.api.links.repository import LinkRepository
from surge.platform.db import create_sessionmaker
from tests.helpers import analyze, engine_on, plan_nodes, sql_sent


async def test_a_rare_term_is_found_through_the_trigram_indexes(migrated_pg_url: str) -> None:
    async with engine_on(migrated_pg_url) as engine:
        sessions = create_sessionmaker(engine)
        owner = (await KeyService(sessions).create("search")).user_id
        async with engine.begin() as conn:
            # 200,000 links in one statement: at this size a scan no longer pays, as in use.
            await conn.exec_driver_sql(
                "INSERT INTO links (slug, url, redirect_type, owner_id, created_at, updated_at) "
                "SELECT 's' || i, 'https://example.com/page/' || i, 302, $1, now(), now() "
                "FROM generate_series(0, 199999) AS i",
                (owner,),
            )
        await analyze(engine)
        with sql_sent(engine) as sent:
            async with sessions() as session:
                found = await LinkRepository(session).page(
                    owner, before_id=None, limit=51, tag=None, q="page/27182"
                )
        assert [link.slug for link in found] == ["s27182"]

        statement, parameters = next((s, p) for s, p in sent if "ILIKE" in s.upper())
        async with engine.connect() as conn:
            nodes = await plan_nodes(conn, statement, parameters)
        used = {n.get("Index Name") for n in nodes}
        assert {"ix_links_slug_trgm", "ix_links_url_trgm"} <= used, used
        assert not [n for n in nodes if n["Node Type"] == "Seq Scan"]
