"""Where a webhook may go (SSRF), checked without a network: literal addresses, local names,
and names a stub resolver points inside; what the operator allows; and the signature's known
vector, computed apart (`openssl dgst -sha256 -hmac`)."""

from __future__ import annotations

import pytest

from surge.webhooks.addresses import AddressPolicy, Refused
from surge.webhooks.events import signature, signed_headers
from tests.webhooks.conftest import stub_resolver

INTERNAL_URLS = [
    "http://127.0.0.1/hook",
    "http://127.0.0.1:8080/hook",
    "http://10.0.0.5/hook",
    "http://[::1]/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://0.0.0.0/",
    "http://localhost/hook",
    "http://printer.local/",
    "http://intranet/hook",
]
NAMES_INSIDE = [
    "http://inside.example.com/hook",  # 10.1.2.3
    "http://metadata.example.com/",  # 169.254.169.254
    "http://v6-loopback.example.com/",  # ::1
    "http://mixed.example.com/",  # one public address and 127.0.0.1
]


def policy(*allowed: str) -> AddressPolicy:
    return AddressPolicy(allowed=allowed, public_host="sho.rt", resolver=stub_resolver)


@pytest.mark.parametrize("url", INTERNAL_URLS)
def test_internal_addresses_and_local_names_are_refused(url: str) -> None:
    assert policy().url_problem(url) is not None


@pytest.mark.parametrize(
    "url", ["ftp://hooks.example.com/", "http://user:pw@hooks.example.com/", "http://sho.rt/x"]
)
def test_other_schemes_credentials_and_surge_itself_are_refused(url: str) -> None:
    assert policy().url_problem(url) is not None


@pytest.mark.parametrize("url", INTERNAL_URLS[:6] + NAMES_INSIDE)
async def test_a_delivery_is_refused_when_the_host_resolves_inside(url: str) -> None:
    with pytest.raises(Refused, match=r"internal|local"):
        await policy().destination(url)


async def test_a_name_that_does_not_resolve_is_refused() -> None:
    with pytest.raises(Refused, match="does not resolve"):
        await policy().destination("http://nowhere.example.com/")


async def test_a_delivery_connects_to_the_address_it_checked() -> None:
    plain = await policy().destination("http://hooks.example.com/in?x=1")
    assert (plain.url, plain.host, plain.tls_name) == (
        "http://93.184.215.14/in?x=1",
        "hooks.example.com",
        None,
    )
    secure = await policy().destination("https://Hooks.Example.com:8443/in")
    assert (secure.url, secure.host, secure.tls_name) == (
        "https://93.184.215.14:8443/in",
        "hooks.example.com:8443",
        "hooks.example.com",  # the certificate is checked against the name, not the address
    )


async def test_the_operator_may_allow_named_internal_hosts() -> None:
    by_address = policy("127.0.0.1", "::1")
    assert by_address.url_problem("http://127.0.0.1:9000/hook") is None
    assert (await by_address.destination("http://[::1]:9000/h")).url == "http://[::1]:9000/h"
    assert (await by_address.destination("http://v6-loopback.example.com/")).address == "::1"
    with pytest.raises(Refused):  # 10.1.2.3 is not allowed
        await by_address.destination("http://inside.example.com/")
    by_name = policy("inside.example.com")
    assert (await by_name.destination("http://inside.example.com/")).address == "10.1.2.3"
    assert by_name.url_problem("http://10.1.2.3/") is not None  # the name, not its address


def test_the_signature_matches_a_known_vector() -> None:
    body = b'{"id":"evt_1","type":"link.created"}'
    expected = "ce323f66ed380635a063d0d66d0b4157264e0e043c75aefc096bbe2b7031e7fb"
    assert signature("whsec_test", 1767225600, body) == expected
    headers = signed_headers("whsec_test", "evt_1", 1767225600, body)
    assert headers["Surge-Webhook-Signature"] == f"v1={expected}"
    assert headers["Surge-Webhook-Timestamp"] == "1767225600"
    assert headers["Surge-Webhook-Id"] == "evt_1"
