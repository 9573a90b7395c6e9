"""The generated matcher against the plain statement of the rules (tests/data/rule_reference.py):
the same answer for random rule lists and awkward requests, whatever the order of a rule's
conditions; inputs read only when a condition needs them, and parsed at most once."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

import pytest

from surge.data import rule_inputs
from surge.data.rule_inputs import CACHED, HeaderNames, header_names, spellings
from surge.data.rule_matching import compile_rules, first_rule, source
from surge.data.rules import BROWSERS, DEVICES, MAX_CONDITIONS, MAX_RULES, RedirectRule
from surge.data.rules import RuleCondition as C
from tests.data import rule_reference
from tests.data.test_rules import ANDROID, CHROMEBOOK, IPAD_FIREFOX, IPHONE, MAC_SAFARI

NOW = datetime(2027, 6, 15, 10, 30, tzinfo=UTC).timestamp()
CONDITIONS = [
    *(C(type="device", value=d) for d in DEVICES),
    *(C(type="browser", value=b) for b in BROWSERS),
    *(
        C(type="language", value=v)
        for v in ("de", "en", "en-GB", "fr", "pt-BR", "zh-Hant-TW", "DE")
    ),
    *(
        C(type="query-param", key=k, value=v)
        for k, v in [("utm", "promo"), ("a b", "x"), ("ü", "1"), ("k", "v+w"), ("k", "ä")]
    ),
    *(C(type="any-value-query-param", key=k) for k in ("utm", "ref", "a b")),
    *(C(type="valueless-query-param", key=k) for k in ("debug", "x y")),
    *(
        C(type="ip-address", value=v)
        for v in [
            "10.0.0.0/8",
            "10.1.0.0/16",
            "203.0.113.0/24",
            "203.0.113.9",
            "0.0.0.0/0",
            "128.0.0.0/1",
            "10.1.44.7/30",
            "192.168.*.*",
            "10.*.*.*",
            "*.*.*.9",
            "2001:db8::/32",
            "::/0",
            "::ffff:10.0.0.1",
        ]
    ),
    *(C(type="geolocation-country-code", value=v) for v in ("FR", "de", "SS", "Us")),
    C(type="geolocation-city-name", value="Paris"),
    *(
        C(type=t, value=v)  # type: ignore[arg-type]
        for t in ("before-date", "after-date")
        for v in ("2027-01-01T00:00:00Z", "2027-06-15T10:30:00+00:00", "2028-01-01T00:00:00+02:00")
    ),
]
UAS = [
    ANDROID,
    IPHONE,
    IPAD_FIREFOX,
    MAC_SAFARI,
    CHROMEBOOK,
    "curl/8.5.0",
    "Mozilla/5.0 (Linux; Android 14; iPhone emulation) Chrome/126",  # both: ios holds too
    "Mozilla/5.0 (Windows NT 10.0) OPR/110 Edg/126 SamsungBrowser/25",
    "Mozilla/5.0 (X11; Linux) Chromium/126 Mobile caf\xe9",
    None,
]
LANGUAGES = [
    None,
    "de-DE,de;q=0.9,en;q=0.5",
    "fr-FR, de;q=0",
    "EN-gb",
    "\xa0de",  # Latin-1 whitespace, stripped as text
    "de;q=nan, pt-BR;q=0.001",
    "*",
    "en;q=abc, zh-hant-tw",
    "de-",
    "",
]
QUERIES = [
    "",
    "utm=promo&x=1",
    "ut%6D=promo",
    "a+b=x",
    "a%20b=x",
    "debug",
    "debug=1&x+y",
    "ref=",
    "ref=news&ref=",
    "%C3%BC=1",
    "\xfc=1",
    "k=v%2Bw",
    "k=v+w",
    "k=%C3%A4",
]
COUNTRIES = [None, "FR", "fr", " FR", "\xdf", "ss", "DE", "", "uS"]
CLIENTS: list[Any] = [
    ("203.0.113.9", 5000),
    ("10.1.44.7", 5000),
    ("1.10.2.3", 1),
    ("010.1.2.3", 1),
    ("192.168.3.4", 1),
    ("192.168.999.1", 1),
    ("2001:db8:1::5", 1),
    ("::ffff:10.0.0.1", 1),
    ("not-an-ip", 1),
    ("", 1),
    (),
    None,
    "absent",
]
FORWARDED = [None, "10.1.2.3, 1.1.1.1", " 192.168.0.1 ", "", "2001:db8::1"]
# (country header, client-address header) as a service may be configured
CONFIGS = [
    (b"cf-ipcountry", b""),
    (b"cf-ipcountry", b"x-forwarded-for"),
    (b"referer", b"user-agent"),
    (b"x-both", b"x-both"),
    (b"", b"cf-ipcountry"),
]


def a_request(rng: random.Random, config: tuple[bytes, bytes]) -> dict[str, Any]:
    country_name, ip_name = config
    headers = [(b"host", b"sho.rt"), (b"referer", b"https://t.co/x")]
    for name, values in [
        (b"user-agent", UAS),
        (b"accept-language", LANGUAGES),
        (country_name, COUNTRIES),
        (ip_name, FORWARDED),
        (b"x-both", COUNTRIES),
    ]:
        for _ in range(rng.choice((1, 1, 1, 2))):  # sometimes twice: the last one counts
            value = rng.choice(values)
            if value is not None and name:
                headers.insert(rng.randrange(len(headers) + 1), (name, value.encode("latin-1")))
    scope: dict[str, Any] = {"type": "http", "headers": headers}
    query = rng.choice(QUERIES)
    if query or rng.random() < 0.5:
        scope["query_string"] = query.encode("latin-1")
    client = rng.choice(CLIENTS)
    if client != "absent":
        scope["client"] = client
    return scope


def some_rules(rng: random.Random) -> list[RedirectRule]:
    return [
        RedirectRule(url=f"https://e.com/{i}", conditions=rng.sample(CONDITIONS, rng.randint(1, 3)))
        for i in range(rng.randint(1, 6))
    ]


def expected(rules: list[RedirectRule], scope: dict[str, Any], config: tuple[bytes, bytes]) -> Any:
    visit = rule_reference.visit_of(scope, NOW, *config)
    return rule_reference.first_match(rules, visit)


@pytest.mark.parametrize("seed", range(40))
def test_the_matcher_answers_as_the_rules_read(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(10):
        rules = some_rules(rng)
        matcher = compile_rules(rules)
        for _ in range(30):
            config = rng.choice(CONFIGS)
            scope = a_request(rng, config)
            found = first_rule(matcher, scope, NOW, header_names(*config))
            assert found == expected(rules, scope, config), (rules, scope, config)


@pytest.mark.parametrize("seed", range(10))
def test_the_order_of_a_rules_conditions_changes_nothing(seed: int) -> None:
    rng = random.Random(seed)
    rules = [
        RedirectRule(url=f"https://e.com/{i}", conditions=rng.sample(CONDITIONS, rng.randint(2, 4)))
        for i in range(4)
    ]
    shuffled = [
        RedirectRule(url=r.url, conditions=rng.sample(r.conditions, len(r.conditions)))
        for r in rules
    ]
    one, other = compile_rules(rules), compile_rules(shuffled)
    for _ in range(200):
        config = rng.choice(CONFIGS)
        scope = a_request(rng, config)
        names = header_names(*config)
        assert first_rule(one, scope, NOW, names) == first_rule(other, scope, NOW, names)


class CountedBytes(bytes):
    """A header value that counts its lookups in a cache."""

    hashes = 0

    def __hash__(self) -> int:
        CountedBytes.hashes += 1
        return super().__hash__()


NAMES = header_names(b"cf-ipcountry", b"")


def test_a_user_agent_is_not_classified_unless_a_condition_needs_it() -> None:
    ua = CountedBytes(IPHONE.encode())
    scope = {"query_string": b"utm=promo"}
    rule_inputs.TRAITS.pop(ua, None)
    CountedBytes.hashes = 0
    promo = C(type="query-param", key="utm", value="promo")
    query_only = compile_rules([RedirectRule(url="https://e.com", conditions=[promo])])
    assert query_only(ua, b"", None, "1.2.3.4", scope, NOW) == 0
    # The cheaper condition first: a date that has passed fails before the device is read,
    # whatever the order written.
    past, ios = C(type="before-date", value="2027-01-01T00:00:00Z"), C(type="device", value="ios")
    for conditions in ([ios, past], [past, ios]):
        dated = compile_rules([RedirectRule(url="https://e.com", conditions=conditions)])
        assert dated(ua, b"", None, "1.2.3.4", scope, NOW) is None
    office = C(type="ip-address", value="10.0.0.0/8")
    socket_address = compile_rules([RedirectRule(url="https://e.com", conditions=[office])])
    assert socket_address(ua, b"", None, "1.2.3.4", scope, NOW) is None
    assert CountedBytes.hashes == 0


def test_accept_language_is_parsed_once_and_only_when_a_language_condition_is_reached() -> None:
    languages = [C(type="language", value=v) for v in ("fr", "it", "es")]
    rules = [RedirectRule(url=f"https://e.com/{c.value}", conditions=[c]) for c in languages]
    ios = C(type="device", value="ios")
    rules.insert(0, RedirectRule(url="https://e.com/ios", conditions=[ios]))
    matcher = compile_rules(rules)
    header = CountedBytes(b"de-CH, de;q=0.8, rm;q=0.1")
    scope = {"headers": [(b"user-agent", IPHONE.encode()), (b"accept-language", header)]}
    rule_inputs.LANGUAGES.pop(header, None)
    CountedBytes.hashes = 0
    assert first_rule(matcher, scope, NOW, NAMES) == 0  # the iPhone's rule: no language read
    assert CountedBytes.hashes == 0
    scope["headers"][0] = (b"user-agent", ANDROID.encode())
    assert first_rule(matcher, scope, NOW, NAMES) is None
    assert CountedBytes.hashes == 2  # three language conditions: one lookup, one parse kept
    assert first_rule(matcher, scope, NOW, NAMES) is None
    assert CountedBytes.hashes == 3  # the next request: one lookup, no parse


def test_the_parse_caches_are_bounded() -> None:
    matcher = compile_rules(
        [RedirectRule(url="https://e.com", conditions=[C(type="browser", value="opera")])]
    )
    for i in range(CACHED + 50):
        first_rule(matcher, {"headers": [(b"user-agent", b"bot/%d" % i)]}, NOW, NAMES)
    assert len(rule_inputs.TRAITS) == CACHED


def test_the_generated_code_holds_no_rule_text() -> None:
    sly = "x'] or __import__('os') or ['"
    rules = [
        RedirectRule(url="https://e.com", conditions=[C(type="query-param", key=sly, value=sly)])
    ]
    matcher = compile_rules(rules)
    assert sly not in source(((0, ("query",)),))
    query = "x%27%5D+or+__import__%28%27os%27%29+or+%5B%27"
    assert (
        first_rule(
            matcher, {"headers": [], "query_string": f"{query}={query}".encode()}, NOW, NAMES
        )
        == 0
    )


def test_the_most_rules_of_the_most_conditions_compile() -> None:
    many = [C(type="language", value="de"), C(type="query-param", key="k", value="v")]
    many += [C(type="ip-address", value="10.0.0.0/8"), C(type="device", value="ios")]
    rules = [
        RedirectRule(url=f"https://e.com/{i}", conditions=(many * MAX_CONDITIONS)[:MAX_CONDITIONS])
        for i in range(MAX_RULES)
    ]
    scope = {"headers": [(b"user-agent", IPHONE.encode()), (b"accept-language", b"de")]}
    scope |= {"query_string": b"k=v", "client": ("10.0.0.1", 1)}
    assert first_rule(compile_rules(rules), scope, NOW, NAMES) == 0


def test_a_country_code_is_every_spelling_that_upper_cases_to_it() -> None:
    """The header is matched without decoding it: the set must be exactly the Latin-1 values
    whose upper case is the code."""
    texts = [chr(a) for a in range(256)] + [chr(a) + chr(b) for a in range(256) for b in range(256)]
    for code in ("FR", "SS", "DE"):
        assert spellings(code) == {t.encode("latin-1") for t in texts if t.upper() == code}


@pytest.mark.parametrize(
    ("config", "names"),
    [
        ((b"cf-ipcountry", b""), (b"cf-ipcountry", None)),
        ((b"", b"x-forwarded-for"), (None, b"x-forwarded-for")),
        ((b"user-agent", b"referer"), (None, None)),  # read as what the click reads them as
        ((b"x-both", b"x-both"), (b"x-both", None)),  # the country's, first
    ],
)
def test_the_trusted_headers_read_as_the_clicks_pass_reads_them(
    config: tuple[bytes, bytes], names: tuple[bytes | None, bytes | None]
) -> None:
    found: HeaderNames = header_names(*config)
    assert found[:2] == names
