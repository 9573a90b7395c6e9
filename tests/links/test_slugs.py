"""Random slugs: the length asked for, within what a slug may be."""

from __future__ import annotations

import pytest

from surge.data.contracts import SLUG_PATTERN
from surge.links.schemas import LinkCreate
from surge.links.slugs import MAX_SLUG_LENGTH, MIN_RANDOM_SLUG_LENGTH, random_slug
from surge.platform.problems import VALIDATION_ERROR, ProblemError
from tests.conftest import Surge


@pytest.mark.parametrize("length", [MIN_RANDOM_SLUG_LENGTH, 7, MAX_SLUG_LENGTH])
def test_a_random_slug_has_the_length_asked_for(length: int) -> None:
    slug = random_slug(length)
    assert len(slug) == length
    assert SLUG_PATTERN.fullmatch(slug)


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
async def test_a_link_is_made_with_a_random_slug_of_a_length_a_slug_may_have(
    surge: Surge,
) -> None:
    assert surge.api.keys is not None
    owner = (await surge.api.keys.create("slugs")).user_id
    wanted = LinkCreate(url="https://example.com/")
    made = await surge.links.create(owner, wanted, slug_length=MIN_RANDOM_SLUG_LENGTH)
    assert len(made.slug) == MIN_RANDOM_SLUG_LENGTH
    for length in (MIN_RANDOM_SLUG_LENGTH - 1, MAX_SLUG_LENGTH + 1):
        with pytest.raises(ProblemError) as refused:
            await surge.links.create(owner, wanted, slug_length=length)
        assert refused.value.problem is VALIDATION_ERROR
