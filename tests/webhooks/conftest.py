"""Webhooks' fixtures: a Surge that delivers fast (backoff in tens of milliseconds, a receiver on
127.0.0.1 allowed), an in-process receiver, a stub resolver, an independent signature check."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from surge.platform.config import Settings
from tests.conftest import Surge
from tests.helpers import make_settings
from tests.webhooks.receiver import Receiver, received

WEBHOOKS = "/api/v1/webhooks"
# Fast enough for tests, the rules unchanged: 20 failures in a row still disable an endpoint.
FAST: dict[str, Any] = {
    "webhook_allowed_hosts": "127.0.0.1",
    "webhook_poll_s": 0.02,
    "webhook_backoff_base_s": 0.01,
    "webhook_backoff_cap_s": 0.05,
    "webhook_timeout_s": 0.5,
    "webhook_lease_s": 2.0,
    "webhook_click_batch_seconds": 0.1,
    "webhook_click_batch_max": 50,
}
# What the stub resolver answers: public names, and names that point inside.
NAMES = {
    "hooks.example.com": ["93.184.215.14"],
    "inside.example.com": ["10.1.2.3"],
    "mixed.example.com": ["93.184.215.14", "127.0.0.1"],
    "metadata.example.com": ["169.254.169.254"],
    "v6-loopback.example.com": ["::1"],
}


async def stub_resolver(host: str, port: int) -> list[str]:
    if host not in NAMES:
        raise OSError(f"unknown name {host}")
    return NAMES[host]


def resolve_with_stub(surge: Surge) -> None:
    """Both the api (registration) and analytics (delivery) resolve with the stub."""
    assert surge.api.webhooks is not None
    assert surge.analytics.webhooks is not None
    surge.api.webhooks.policy.resolver = stub_resolver
    surge.analytics.webhooks.sender.policy.resolver = stub_resolver


def signature_ok(secret: str, request: dict[str, Any]) -> bool:
    """Checked as a receiver would, written apart from surge.webhooks.events."""
    headers = request["headers"]
    signed = f"{headers['surge-webhook-timestamp']}.{request['body']}".encode()
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return hmac.compare_digest(headers["surge-webhook-signature"], f"v1={expected}")


@pytest.fixture
def settings(tmp_path: Path, backend: dict[str, Any]) -> Settings:
    return make_settings(tmp_path, **backend, **FAST)


@pytest.fixture
async def receiver(tmp_path: Path) -> AsyncIterator[Receiver]:
    started = await Receiver(tmp_path / "received.jsonl", tmp_path / "mode").start()
    yield started
    await started.stop()


def accepted(receiver: Receiver) -> list[dict[str, Any]]:
    """The requests the receiver answered 200, in order."""
    return [r for r in received(receiver.log) if r["status"] == 200]
