"""Evaluating a link's redirect rules on a request: `compile_rules` turns a link's rules into one
Python function, `match(scope, now, names) -> index | None`, which the redirect calls on every
redirect of a cached link with rules (names: the service's trusted headers, `header_names`).

Why generated code: a Python call costs ~450 instructions and a method call on a C object
~350, so the first version (a closure per condition over a Visit built per request from a
decoded copy of the headers) cost 38,300 instructions per redirect of the bench's link of five
rules, +68% on a plain redirect. The generated function has no call per condition, and reads
the request in place:

- each rule is a nest of `if`s, its conditions cheapest first (all must hold, and none has a
  side effect or can raise, so their order changes what is computed, never the answer);
- each input is computed just before the first condition that needs it, and once: one pass
  over the headers for the ones the rules read, the user agent's classification, the parsed
  Accept-Language, the query, the client's address; an input no reached condition needs is
  never read (a rule whose date has passed reads no header);
- a header is compared as the bytes it arrived as (a country code is looked up in the set of
  its spellings) and an address as text (an IPv4 network's fixed leading octets must occur in
  it) before anything is decoded or parsed;
- user agents and Accept-Language values repeat: their parses are kept, bounded.

The code is generated from the rules' shape only (the kinds of their conditions, in order, and
rule indices; values are the factory's arguments), so links of one shape share one compiled
factory (~1 ms to build, 40 µs a link after) and no text of a rule or a request is compiled.

Cost per cached redirect of a link with five rules the request does not match, over a plain
link, in instructions (`HOT_PATH_METRICS=on HOT_PATH_RULES=5 HOT_PATH_ROUNDS=1
HOT_PATH_REQUESTS=20000|40000 valgrind --tool=callgrind .venv/bin/python bench/hot_path.py`,
the difference of the two counts over 20,000, against the same without HOT_PATH_RULES):
evaluated per condition +38,322 (94,622 / 56,300, +68.1%); generated, reading the headers
itself, +7,039 (63,033 / 55,994, +12.6%); generated, given the values the redirect's one pass
over the headers reads for the click too, +3,375 (46,588 / 43,213, +7.8%; the plain link's
figure is after the local cache tier's read was written by hand). docs/performance.md has the
table.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence
from functools import lru_cache
from string import Formatter
from typing import Any, cast

from surge.data.rule_inputs import (
    LANGUAGES,
    TRAITS,
    HeaderNames,
    RequestValues,
    Scope,
    address_of,
    languages_of,
    parse_query,
    request_values,
    spellings,
    traits_of,
)
from surge.data.rules import RedirectRule, RuleCondition, ip_condition, moment_of

# match(ua, accepted, country, ip, scope, now): the header values of RequestValues, then the
# request's scope (for its query) and its time.
Matcher = Callable[[bytes, bytes, bytes | None, str, Scope, float], int | None]

# Each input: the inputs it needs first, and the lines that compute it into its local. The
# headers' values are the function's arguments, read by the caller's one pass over the headers
# (the redirect's serves the click too). A subscript in a `try` where a miss is rare, not
# .get(): the method call costs ~110 instructions more, the `try` nothing unless it raises.
_INPUTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "traits": (
        (),
        ("try:", "    traits = _TRAITS[ua]", "except KeyError:", "    traits = _traits(ua)"),
    ),
    "languages": (
        (),
        (
            "try:",
            "    languages = _LANGUAGES[accepted]",
            "except KeyError:",
            "    languages = _languages(accepted)",
        ),
    ),
    # .get: a scope without a query (a hand-made one) would make a `try` raise every time.
    "raw_query": ((), ("raw_query = scope.get('query_string', b'')",)),
    "query": (("raw_query",), ("query = raw_query.decode('latin-1')",)),
    "params": (("query",), ("params = _query(query)",)),
    "ip": ((), ()),  # an argument: the trusted header's first address, else the socket's
    "address": (("ip",), ("address = _address(ip)",)),
    "country": ((), ()),  # an argument: the trusted header's bytes, or None
}
# Each kind of condition: its rank (cheapest first) and its steps, each the inputs it reads
# and a test (of constants {0}, {1}...) that must hold.
_IN_NETWORK = "address[0] == {0} and address[1] & {{1}} == {{2}}"
# Without `%` or `+` in the query its names are its text: the key must occur in it.
_QUERY_SEEN = (
    (("raw_query",), "raw_query"),
    (("query",), "{0} in query or '%' in query or '+' in query"),
)
_STEPS: dict[str, tuple[int, tuple[tuple[tuple[str, ...], str], ...]]] = {
    "before": (0, (((), "now < {0}"),)),
    "after": (0, (((), "now > {0}"),)),
    "query": (1, (*_QUERY_SEEN, (("params",), "{1} in params.get({0}, ())"))),
    "any-query": (1, (*_QUERY_SEEN, (("params",), "any(params.get({0}, ()))"))),
    "valueless-query": (1, (*_QUERY_SEEN, (("params",), "'' in params.get({0}, ())"))),
    # The socket's address needs no pass over the headers.
    # `in`, not .startswith(): 300 instructions, not 880, and as necessary.
    "ip4": (2, ((("ip",), "{0} in ip"), (("address",), _IN_NETWORK.format(4)))),
    "ip6": (2, ((("ip",), "':' in ip"), (("address",), _IN_NETWORK.format(6)))),
    "wildcard": (2, ((("ip",), "{0} in ip"), (("ip",), "{1}.fullmatch(ip) is not None"))),
    "country": (3, ((("country",), "country in {0}"),)),
    # Equal costs: a language first, as one excludes most visitors, and a device or browser
    # class often holds.
    "language": (4, ((("languages",), "{0} in languages"),)),
    "trait": (5, ((("traits",), "{0} in traits"),)),
}


def _condition(condition: RuleCondition) -> tuple[str, tuple[Any, ...]] | None:
    """A validated condition's kind of step and its constants; None: it never holds."""
    kind, key, value = condition.type, condition.key or "", condition.value
    if kind in ("device", "browser"):
        return "trait", (value,)
    if kind == "language":
        return "language", (value.lower(),)
    if kind in ("query-param", "any-value-query-param", "valueless-query-param"):
        tag = {"query-param": "query", "any-value-query-param": "any-query"}.get(
            kind, "valueless-query"
        )
        return tag, (key, value) if tag == "query" else (key,)
    if kind == "geolocation-country-code":
        return "country", (spellings(value.upper()),)
    if kind == "geolocation-city-name":
        return None  # no city is known until a GeoIP database is configured
    if kind == "ip-address":
        return _ip(value)
    moment = moment_of(value)
    assert moment is not None  # validated
    return ("before" if kind == "before-date" else "after"), (moment.timestamp(),)


def _ip(value: str) -> tuple[str, tuple[Any, ...]]:
    found = ip_condition(value)
    assert found is not None  # validated
    if not isinstance(found, ipaddress.IPv4Network | ipaddress.IPv6Network):
        # The text before the first `*` is the pattern's literal start.
        return "wildcard", (value[: value.index("*")], found)
    first, mask = int(found.network_address), int(found.netmask)
    if found.version == 6:
        return "ip6", ("", mask, first)
    # The address text the C parser accepts is canonical (no leading zeros): one in the network
    # starts with the network's fixed octets, dotted.
    fixed = str(found.network_address).split(".")[: found.prefixlen // 8]
    prefix = ".".join(fixed) + ("." if len(fixed) < 4 else "") if fixed else ""
    return "ip4", (prefix, mask, first)


# --- the generated function --------------------------------------------------------------------

Shape = tuple[tuple[int, tuple[str, ...]], ...]  # per rule that can hold: its index, its steps


def compile_rules(rules: Sequence[RedirectRule]) -> Matcher:
    """One function that answers the index of the first rule a request matches, or None. Runs
    once per cache load of a link with rules."""
    shape: list[tuple[int, tuple[str, ...]]] = []
    constants: list[Any] = []
    for index, rule in enumerate(rules):
        found = [_condition(c) for c in rule.conditions]
        if any(f is None for f in found):
            continue  # a condition that never holds: neither does its rule
        ordered = sorted(cast(list[tuple[str, tuple[Any, ...]]], found), key=_rank)
        shape.append((index, tuple(kind for kind, _ in ordered)))
        constants.extend(value for _, values in ordered for value in values)
    return _factory(tuple(shape))(*constants)


def first_rule(matcher: Matcher, scope: Scope, now: float, names: HeaderNames) -> int | None:
    """The matcher on a whole request, its headers read as the redirect reads them (the
    dashboard's "test a request", tests). The redirect reads them itself, in the pass that
    also serves the click."""
    values: RequestValues = request_values(scope, names)
    return matcher(*values, scope, now)


def _rank(condition: tuple[str, tuple[Any, ...]]) -> int:
    return _STEPS[condition[0]][0]


@lru_cache(maxsize=256)
def _factory(shape: Shape) -> Callable[..., Matcher]:
    """The compiled `make(c0, c1, ...) -> match` of a shape."""
    namespace: dict[str, Any] = {
        "_TRAITS": TRAITS,
        "_traits": traits_of,
        "_LANGUAGES": LANGUAGES,
        "_languages": languages_of,
        "_query": parse_query,
        "_address": address_of,
    }
    exec(compile(source(shape), "<redirect rules>", "exec"), namespace)
    return cast(Callable[..., Matcher], namespace["make"])


def source(shape: Shape) -> str:
    """The factory's code. Each rule is a nest of `if`s, one per step; an input is computed
    just before the first step that reads it, checked for None (not computed yet) only where
    an earlier rule may or may not have computed it."""
    inputs = _INPUTS
    body: list[str] = []
    known: set[str] = set()  # computed on every path to the current rule
    maybe: set[str] = set()  # computed on some path
    unset: set[str] = set()  # read before computed on some path: starts as None
    count = 0

    def ensure(name: str, depth: int, local: set[str]) -> None:
        needs, lines = inputs[name]
        for need in needs:
            ensure(need, depth, local)
        if name in local:
            return
        if not lines:  # filled by what it needs
            local.add(name)
            return
        pad = "    " * (depth + 2)
        if name in maybe:
            unset.add(name)
            body.append(f"{pad}if {name} is None:")
            pad += "    "
        body.extend(pad + line for line in lines)
        maybe.add(name)
        local.add(name)

    for index, kinds in shape:
        local = set(known)
        depth = 0
        for kind in kinds:
            _rank_of, steps = _STEPS[kind]
            arity = max((int(c) for _, test in steps for c in _placeholders(test)), default=-1) + 1
            names = [f"c{count + i}" for i in range(arity)]
            count += arity
            for reads, test in steps:
                for name in reads:
                    ensure(name, depth, local)
                if depth == 0:
                    known = set(local)
                body.append("    " * (depth + 2) + f"if {test.format(*names)}:")
                depth += 1
        body.append("    " * (depth + 2) + f"return {index}")
    head = [f"def make({', '.join(f'c{i}' for i in range(count))}):"]
    head.append("    def match(ua, accepted, country, ip, scope, now):")
    if unset:
        head.append("        " + " = ".join(sorted(unset)) + " = None")
    return "\n".join([*head, *body, "        return None", "    return match", ""])


def _placeholders(test: str) -> list[str]:
    return [field for _, field, _, _ in Formatter().parse(test) if field]
