"""The links domain's batches (surge.links.bulk): a batch is that many single creates, in order,
through the same code (surge.links.writes) — random slugs drawn taken are drawn again, within
the batch as against the database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from surge.links import writes
from surge.links.bulk import BulkLinks
from surge.links.repository import Link
from surge.platform.problems import ProblemError
from tests.conftest import Surge


def drawn(*slugs: str) -> Iterator[str]:
    yield from slugs
    raise AssertionError("more random slugs drawn than expected")


async def owner_of(surge: Surge, key: dict[str, str], slug: str) -> int:
    """The key's user, who now has a link `slug`."""
    made = await surge.client.post(
        "/api/v1/links", json={"url": "https://example.com/", "slug": slug}, headers=key
    )
    assert made.status_code == 201, made.text
    return (await surge.links.get(None, slug)).owner_id


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
async def test_random_slugs_taken_are_drawn_again(
    surge: Surge, key: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    bulk: BulkLinks = surge.api.app.state.bulk_links
    user_id = await owner_of(surge, key, "Taken01")
    # The first draw of item 0 is taken in the database; items 1 and 2 draw the same slug.
    slugs = drawn("Taken01", "Same001", "Same001", "Fresh01", "Fresh02")
    monkeypatch.setattr(writes, "random_slug", lambda length: next(slugs))
    items = [{"url": f"https://example.com/{i}"} for i in range(3)]
    outcomes = await bulk.create(user_id, items)
    assert all(isinstance(o, Link) for o in outcomes), outcomes
    assert [o.slug for o in outcomes if isinstance(o, Link)] == ["Fresh01", "Same001", "Fresh02"]


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
async def test_a_slug_space_that_stays_busy_is_a_problem_for_that_item_only(
    surge: Surge, key: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    bulk: BulkLinks = surge.api.app.state.bulk_links
    user_id = await owner_of(surge, key, "Busy001")
    monkeypatch.setattr(writes, "random_slug", lambda length: "Busy001")
    outcomes = await bulk.create(
        user_id, [{"url": "https://example.com/a"}, {"url": "https://example.com/b", "slug": "ok"}]
    )
    assert isinstance(outcomes[0], ProblemError)
    assert outcomes[0].status == 503
    assert isinstance(outcomes[1], Link)
    assert outcomes[1].slug == "ok"
