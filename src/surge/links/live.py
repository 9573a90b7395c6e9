"""The api's side of the live feed (data/live.py): who watches which links' clicks, how many
streams may be open, and what each is shown.

Every api process has one `LiveHub`. Analytics in the same process without Redis publishes into
it directly; with Redis, one `LiveStreamReader` per process reads the capped stream into it, so
a panel sees the clicks that any analytics process ingested. A stream gets only the summaries
of links its user may see: one link (checked when it opened), or all the user's links (each
link's owner looked up once a minute at most, whoever watches).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Request

from surge.data.live import FIELD, RECENT, LiveClick, LiveHub, LiveSummary, Message, unpack
from surge.links.service import LinkService
from surge.platform.cache import LocalCache
from surge.platform.fanout import Subscription
from surge.platform.logging import get_logger
from surge.platform.loops import SupervisedLoop
from surge.platform.metrics import LIVE_STREAMS
from surge.platform.problems import DEPENDENCY_UNAVAILABLE, OVERLOADED, RATE_LIMITED
from surge.platform.redis import RedisClient

log = get_logger(__name__)
OWNERS_CACHED = 10_000  # links whose owner is remembered (a minute each)
OWNER_TTL_S = 60.0
HEARTBEAT_S = 15.0  # a comment line this often keeps proxies from closing an idle stream


@dataclass(slots=True, frozen=True)
class LinkRef:
    """What a stream of many links needs of each: whose it is, and how the panel names it."""

    owner_id: int
    slug: str
    domain: str  # '' for the default domain


@dataclass(slots=True, frozen=True)
class Watch:
    user_id: int  # who watches (the bound per user)
    link_id: int | None = None  # one link; None: many
    owner_id: int | None = None  # with link_id None: whose links; None: everyone's (admins)


@dataclass(slots=True)
class LiveUpdate:
    """What a stream shows after a wait: the clicks since the last update."""

    clicks: int = 0
    bots: int = 0
    missed: int = 0  # messages lost because the stream fell behind (its counts are low)
    recent: list[tuple[LiveClick, LinkRef | None]] = field(default_factory=list)


@dataclass(slots=True, eq=False)
class LiveStream:
    watch: Watch
    subscription: Subscription[Message]
    released: bool = False


class LiveStreams:
    def __init__(
        self,
        hub: LiveHub,
        links: LinkService,
        *,
        per_user: int,
        overall: int,
        fed: bool = True,
    ) -> None:
        """`fed`: something publishes into `hub` (analytics in this process, or the reader of
        the Redis stream); without, a stream would wait forever, so none is opened."""
        self.hub = hub
        self.fed = fed
        self.links = links
        self.per_user = per_user
        self.overall = overall
        self.heartbeat_s = HEARTBEAT_S
        self.stopping = False
        self._open: Counter[int] = Counter()
        self._refs: LocalCache[int, LinkRef] = LocalCache(
            OWNERS_CACHED, OWNER_TTL_S, negative_ttl_s=OWNER_TTL_S
        )

    def open(self, watch: Watch) -> LiveStream:
        """A stream for `watch`, subscribed from now on; a problem past the bounds."""
        if not self.fed:
            raise DEPENDENCY_UNAVAILABLE(
                "Live views need Redis when analytics runs in another process."
            )
        if self._open[watch.user_id] >= self.per_user:
            raise RATE_LIMITED(
                f"At most {self.per_user} live views open at once; close one and reload.",
                headers={"Retry-After": "5"},
            )
        if self.stopping:
            raise OVERLOADED("This server is stopping.", headers={"Retry-After": "5"})
        if len(self.hub) >= self.overall:
            raise OVERLOADED(
                "Too many live views open on this server.", headers={"Retry-After": "5"}
            )
        self._open[watch.user_id] += 1
        LIVE_STREAMS.inc()
        return LiveStream(watch, self.hub.subscribe())

    def release(self, stream: LiveStream) -> None:
        """The stream ended (client gone, server stopping): its place is free. Idempotent."""
        stream.subscription.close()
        if stream.released:
            return
        stream.released = True
        LIVE_STREAMS.dec()
        self._open[stream.watch.user_id] -= 1
        if self._open[stream.watch.user_id] <= 0:
            del self._open[stream.watch.user_id]

    def open_count(self, user_id: int) -> int:
        return self._open[user_id]

    def close_all(self) -> None:
        """Ends every stream, and opens no more: the process is stopping."""
        self.stopping = True
        self.hub.close_all()

    async def updates(self, stream: LiveStream) -> AsyncIterator[LiveUpdate]:
        """The stream's updates as its clicks arrive, until it is closed."""
        while True:
            messages = await stream.subscription.next()
            if messages is None:
                return
            missed, stream.subscription.dropped = stream.subscription.dropped, 0
            update = await self._update(stream.watch, [s for m in messages for s in m], missed)
            if update is not None:
                yield update

    async def _update(
        self, watch: Watch, summaries: Sequence[LiveSummary], missed: int
    ) -> LiveUpdate | None:
        update = LiveUpdate(missed=missed)
        for summary in summaries:
            ref = None
            if watch.link_id is not None:
                if summary.link_id != watch.link_id:
                    continue
            else:
                try:
                    ref = await self._refs.get_or_load(summary.link_id, self._load_ref)
                except Exception as exc:  # the database away: shown to nobody for now
                    log.warning("live_link_unknown", link_id=summary.link_id, error=repr(exc)[:200])
                    continue
                if ref is None or (watch.owner_id is not None and ref.owner_id != watch.owner_id):
                    continue
            update.clicks += summary.clicks
            update.bots += summary.bots
            update.recent += [(click, ref) for click in summary.recent]
        if not (update.clicks or update.bots or missed):
            return None
        update.recent = sorted(update.recent, key=lambda pair: pair[0].at)[-RECENT:]
        return update

    async def _load_ref(self, link_id: int) -> LinkRef | None:
        found = await self.links.by_ids([link_id])
        if not found:
            return None  # deleted since: shown to nobody
        link = found[0]
        return LinkRef(link.owner_id, link.slug, link.domain)


class LiveStreamReader:
    """Reads the capped Redis stream of the live feed into this process's hub (one reader per
    process, however many streams are open)."""

    def __init__(self, redis: RedisClient, stream: str, hub: LiveHub, *, block_ms: int) -> None:
        self.redis = redis
        self.stream = stream
        self.hub = hub
        self.block_ms = block_ms
        self._last: Any = None  # the id of the last entry read
        self._loop = SupervisedLoop("live-feed-reader", self.step)

    async def start(self) -> None:
        """Reads from now on: where the stream ends is taken before any panel can open (a
        Redis away now: at the first round that reaches it)."""
        try:
            await self._position()
        except Exception as exc:
            log.warning("live_feed_unreachable", error=repr(exc)[:200])
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    async def _position(self) -> None:
        if self._last is None:
            newest: Any = await self.redis.xrevrange(self.stream, count=1)
            self._last = newest[0][0] if newest else "0-0"

    async def step(self) -> int:
        """Read what was added since the last entry read. Entries read."""
        await self._position()
        answer: Any = await self.redis.xread(
            {self.stream: self._last}, count=100, block=self.block_ms
        )
        read = 0
        for _name, entries in answer or []:
            for entry_id, fields in entries:
                self._last, read = entry_id, read + 1
                try:
                    self.hub.publish(unpack(fields[FIELD]))
                except (KeyError, ValueError):
                    log.warning("live_entry_unreadable", entry_id=entry_id)
        return read


async def get_live_streams(request: Request) -> LiveStreams:
    streams: LiveStreams = request.app.state.live_streams
    return streams


LiveStreamsDep = Annotated[LiveStreams, Depends(get_live_streams)]
