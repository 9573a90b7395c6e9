"""Click ids: unique, fixed in length, and in the order a process made them."""

from __future__ import annotations

import itertools

from surge.data.events import click_ids


def test_a_sources_ids_are_unique_the_same_length_and_sorted_as_made() -> None:
    new_id = click_ids()
    made = [new_id() for _ in range(10_000)]
    assert len(set(made)) == len(made)
    assert {len(i) for i in made} == {36}
    assert made == sorted(made)  # appended at the right edge of the primary key's index
    assert all(i.isalnum() and i == i.lower() for i in made)


def test_two_sources_share_no_id() -> None:
    first, second = click_ids(), click_ids()
    ids = [f() for f in itertools.islice(itertools.cycle([first, second]), 2_000)]
    assert len(set(ids)) == len(ids)
