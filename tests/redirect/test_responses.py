"""Query forwarding (Destination): the visitor's query merged into a target's, kept as sent."""

from __future__ import annotations

import pytest

from surge.redirect.responses import Target


def forwarded(url: str, query: bytes) -> str:
    target = Target.build(1, "s", url, 302, None, None, 0, [], forward_query=True)
    assert target.forwarding is not None
    headers = target.forwarding[0].with_query(query)
    assert headers[1:] == target.headers[1:]  # only the location changes
    return headers[0][1].decode()


@pytest.mark.parametrize(
    ("url", "query", "location"),
    [
        ("https://example.com/a", b"utm_source=x", "https://example.com/a?utm_source=x"),
        ("https://example.com/a?b=1", b"c=2&d", "https://example.com/a?b=1&c=2&d"),
        # A parameter the target sets itself keeps the target's value, whoever repeats it.
        ("https://example.com/a?ref=ours", b"ref=theirs&x=1", "https://example.com/a?ref=ours&x=1"),
        ("https://example.com/a?ref=ours", b"r%65f=theirs", "https://example.com/a?ref=ours"),
        # The fragment stays last.
        ("https://example.com/a#top", b"x=1", "https://example.com/a?x=1#top"),
        ("https://example.com/a?b=1#top", b"x=1", "https://example.com/a?b=1&x=1#top"),
        # Kept as sent (order, escapes, repeats), and bytes a URL may not hold are escaped.
        ("https://example.com/", b"q=a%20b&q=c&empty=", "https://example.com/?q=a%20b&q=c&empty="),
        ("https://example.com/", "q=ü".encode(), "https://example.com/?q=%C3%BC"),
        ("https://example.com/", b"&&", "https://example.com/"),
    ],
)
def test_the_visitors_query_is_merged_into_the_targets(
    url: str, query: bytes, location: str
) -> None:
    assert forwarded(url, query) == location


def test_a_link_that_does_not_forward_has_no_destinations() -> None:
    target = Target.build(1, "s", "https://example.com/", 302, None, None, 0, [])
    assert target.forwarding is None
    assert target.simple
