"""One delivery attempt: the endpoint's URL checked against what its host resolves to now, the
signed body POSTed to the checked address, the outcome measured. Never follows a redirect
(a 3xx is a failure: it could point anywhere)."""

from __future__ import annotations

import asyncio
import time

import httpx

from surge import __version__
from surge.platform.clock import unix_time
from surge.platform.metrics import WEBHOOK_DELIVERIES, WEBHOOK_DELIVERY_DURATION
from surge.webhooks.addresses import AddressPolicy, Destination, Refused
from surge.webhooks.events import signed_headers
from surge.webhooks.outbox_repository import Attempt, Head

USER_AGENT = f"Surge-Webhooks/{__version__}"


def webhook_client(timeout_s: float) -> httpx.AsyncClient:
    """The client deliveries share (made in the analytics service's lifespan). No proxy from
    the environment: a delivery connects to the address it checked, nowhere else."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout_s),
        follow_redirects=False,
        trust_env=False,
        headers={"user-agent": USER_AGENT},
        limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
    )


class Sender:
    def __init__(self, client: httpx.AsyncClient, policy: AddressPolicy, timeout_s: float) -> None:
        self.client = client
        self.policy = policy
        self.timeout_s = timeout_s

    async def destination(self, url: str) -> Destination | Refused:
        """Where a round of one endpoint's deliveries connects (its URL resolved and every
        address checked, once a round: each send connects to the checked address), or why not."""
        try:
            return await self.policy.destination(url)
        except Refused as exc:
            return exc

    async def send(self, head: Head, destination: Destination | Refused) -> Attempt:
        started = time.monotonic()
        if isinstance(destination, Refused):
            WEBHOOK_DELIVERIES.labels("refused").inc()
            return Attempt(False, None, 0, f"refused: {destination}")
        body = head.body.encode()
        headers = signed_headers(head.secret, head.event_id, int(unix_time()), body)
        headers["host"] = destination.host
        extensions = {"sni_hostname": destination.tls_name} if destination.tls_name else None
        try:
            # The client's timeout bounds each phase; this bounds the whole attempt, so a
            # receiver that answers a byte at a time cannot hold the endpoint's lease.
            # Only the status counts: the answer's body is never read.
            async with (
                asyncio.timeout(self.timeout_s),
                self.client.stream(
                    "POST", destination.url, content=body, headers=headers, extensions=extensions
                ) as response,
            ):
                status = response.status_code
        except (httpx.HTTPError, TimeoutError) as exc:
            WEBHOOK_DELIVERIES.labels("network_error").inc()
            WEBHOOK_DELIVERY_DURATION.observe(time.monotonic() - started)
            return Attempt(False, None, _ms(started), _describe(exc))
        WEBHOOK_DELIVERY_DURATION.observe(time.monotonic() - started)
        ok = 200 <= status < 300
        WEBHOOK_DELIVERIES.labels("delivered" if ok else "http_error").inc()
        return Attempt(ok, status, _ms(started), None if ok else f"answered {status}")


def _ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError | httpx.TimeoutException):
        return "timed out"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
