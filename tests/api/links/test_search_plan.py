"""Search on PostgreSQL is served by the trigram indexes, not by reading every link."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import event

from surge.api.keys.service import KeyService
from surge.api.links.repository import LinkRepository
from surge.platform.db import create_sessionmaker
from tests.helpers import engine_on


def nodes(node: dict[str, Any]) -> list[dict[str, Any]]:
    return [node, *(n for child in node.get("Plans", []) for n in nodes(child))]


async def test_a_rare_term_is_found_through_the_trigram_indexes(migrated_pg_url: str) -> None:
    async with engine_on(migrated_pg_url) as engine:
        sessions = create_sessionmaker(engine)
        owner = (await KeyService(sessions).create("search")).id
        async with engine.begin() as conn:
            # 200,000 links in one statement: at this size a scan no longer pays, as in use.
            await conn.exec_driver_sql(
                "INSERT INTO links (slug, url, redirect_type, owner_id, created_at, updated_at) "
                "SELECT 's' || i, 'https://example.com/page/' || i, 302, $1, now(), now() "
                "FROM generate_series(0, 199999) AS i",
                (owner,),
            )
        async with engine.begin() as conn:  # committed: a rolled-back ANALYZE leaves nothing
            await conn.exec_driver_sql("ANALYZE links")

        sent: list[tuple[str, Any]] = []

        def record(_c: Any, _cur: Any, statement: str, parameters: Any, *_: Any) -> None:
            sent.append((statement, parameters))

        event.listen(engine.sync_engine, "before_cursor_execute", record)
        try:
            async with sessions() as session:
                found = await LinkRepository(session).page(
                    owner, before_id=None, limit=51, tag=None, q="page/27182"
                )
        finally:
            event.remove(engine.sync_engine, "before_cursor_execute", record)
        assert [link.slug for link in found] == ["s27182"]

        statement, parameters = next((s, p) for s, p in sent if "ILIKE" in s.upper())
        async with engine.connect() as conn:
            result = await conn.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {statement}", parameters)
            raw = result.scalar_one()
        plan = (json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"]
        used = {n.get("Index Name") for n in nodes(plan)}
        assert {"ix_links_slug_trgm", "ix_links_url_trgm"} <= used, used
        assert not [n for n in nodes(plan) if n["Node Type"] == "Seq Scan"]
