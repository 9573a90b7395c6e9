"""Settings from `SURGE_*` environment variables (pydantic-settings)."""

from __future__ import annotations

import json
import os
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

ServiceName = Literal["all", "api", "redirect", "analytics"]
DEFAULT_INTERNAL_TOKEN = "dev-internal-token"
DEFAULT_VISITOR_SALT = "change-me-visitor-salt"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
# Secrets that may also come from a file (Docker and Kubernetes secrets): SURGE_<NAME>_FILE.
SECRET_FILES = (
    "internal_token",
    "visitor_salt_secret",
    "database_url",
    "database_replica_urls",
    "redis_url",
    "clickhouse_url",
)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SURGE_", extra="ignore", frozen=True)

    database_url: str = "sqlite+aiosqlite:///./data/surge.db"
    db_pool_size: int = Field(default=5, ge=1)
    # PostgreSQL streaming replicas the api reads links from (resolves, lists, stats' link
    # lookups): comma-separated or a JSON list; empty, every read goes to the primary. A
    # caller's reads go to the primary for database_replica_fresh_s after their write
    # (read-your-writes), and a replica further behind than that is not read
    # (docs/data-plane.md). A replica that does not connect within database_replica_timeout_s
    # is skipped for that read (the primary answers); its lag is measured every
    # database_replica_check_s.
    database_replica_urls: Annotated[list[str], NoDecode] = Field(default_factory=list)
    database_replica_fresh_s: float = Field(default=5.0, gt=0)
    database_replica_timeout_s: float = Field(default=1.0, gt=0)
    database_replica_check_s: float = Field(default=1.0, gt=0)
    # Migrate on start: default yes on SQLite (the embedded default), no on PostgreSQL
    # (there `surge migrate` runs once per deploy, e.g. as a Kubernetes Job).
    migrate_on_start: bool | None = None
    # One Redis (redis://, rediss://) or a Redis Cluster (redis+cluster://, rediss+cluster://).
    redis_url: str | None = None
    # Every Redis key and channel Surge uses starts with this, so deployments can share a Redis.
    redis_prefix: str = "surge:"
    redis_timeout_s: float = Field(default=1.0, gt=0)
    # A click batch counts as delivered once this many replicas of its Redis hold it (WAIT):
    # with 1, a master lost to a failover cannot take acknowledged clicks with it. 0: do not
    # wait (a Redis without replicas).
    redis_wait_replicas: int = Field(default=0, ge=0)
    # The click stream in this many streams (a click goes to shard link id modulo the count),
    # so ingest spreads over a cluster's masters and over consumers. 1: one stream, as before.
    click_stream_shards: int = Field(default=1, ge=1, le=1024)
    # The shards this analytics process reads ("0-3,7"); empty: all of them. May name shards
    # past click_stream_shards: a lowered count leaves streams to drain (docs/data-plane.md).
    click_stream_consume_shards: Annotated[list[int], NoDecode] = Field(default_factory=list)
    # Click batches that could not reach the stream wait here (append-only, fsync per batch).
    spool_dir: Path = Path("./data/spool")
    # A consumer's unacknowledged stream entries idle this long are claimed by another consumer.
    stream_claim_idle_ms: int = Field(default=30_000, ge=100)
    stream_read_count: int = Field(default=100, ge=1)
    # Raw clicks older than this many days are removed (rollups stay, so stats do not change);
    # unset keeps them all. By `surge maintain` and by analytics twice a day.
    click_retention_days: int | None = Field(default=None, ge=2)
    # Where raw clicks live when set (e.g. http://default@127.0.0.1:8123/surge, the path naming
    # the database): ClickHouse's HTTP interface; links, users, keys and webhooks stay in the
    # database above. Unset: clicks stay in the database above too (docs/clickhouse.md).
    clickhouse_url: str | None = None
    clickhouse_timeout_s: float = Field(default=10.0, gt=0)

    # Where the services find each other when they run as separate processes.
    api_url: str = "http://127.0.0.1:8001"
    analytics_url: str = "http://127.0.0.1:8003"
    # Redirect replicas the api tells about a changed link (without Redis pub/sub).
    redirect_urls: Annotated[list[str], NoDecode] = Field(default_factory=list)
    internal_token: str = Field(default=DEFAULT_INTERNAL_TOKEN, min_length=8)
    internal_timeout_s: float = Field(default=2.0, gt=0)

    # Degradation. Connecting and each statement (PostgreSQL) give up after db_timeout_s.
    db_timeout_s: float = Field(default=5.0, gt=0)
    # A dependency's breaker opens after this many failures in a row, for breaker_ttl_s.
    breaker_threshold: int = Field(default=5, ge=1)
    breaker_ttl_s: float = Field(default=5.0, gt=0)
    # Requests waiting on a dependency, per process: past max_in_flight_api (default a quarter)
    # API and stats requests get an immediate 503, past max_in_flight redirects that must ask
    # the api do too. While the event loop's lag stays over shed_lag_ms
    # (admission.LAG_WINDOW measurements in a row: one stall sheds nothing) API requests past
    # api_reserve_under_lag in flight are shed; over shed_redirect_lag_ms, redirects too
    # (cached ones included: the loop is that far behind, so a 503 now beats a 302 too late).
    max_in_flight: int = Field(default=512, ge=1)
    max_in_flight_api: int | None = Field(default=None, ge=1)
    shed_lag_ms: float = Field(default=250.0, gt=0)
    shed_redirect_lag_ms: float = Field(default=500.0, gt=0)
    api_reserve_under_lag: int = Field(default=2, ge=0)

    # The public base of short links, e.g. https://sho.rt. Links may not point back at it.
    public_url: str = "http://127.0.0.1:8000"

    # Redirect hot path.
    cache_size: int = Field(default=100_000, ge=1)
    cache_ttl_s: float = Field(default=60.0, gt=0)
    negative_cache_ttl_s: float = Field(default=5.0, ge=0)
    click_flush_interval_ms: int = Field(default=100, ge=1, le=60_000)
    click_batch_size: int = Field(default=5_000, ge=1)
    click_buffer_limit: int = Field(default=1_000_000, ge=1)
    country_header: str | None = "cf-ipcountry"
    client_ip_header: str | None = None
    # A MaxMind DB file (GeoLite2-Country/City, DB-IP lite) analytics locates clicks with at
    # ingest: country (unless the country header says), region and city. Read again when it
    # changes; never downloaded. Unset: the country header alone.
    geoip_db: Path | None = None
    visitor_salt_secret: str = Field(default=DEFAULT_VISITOR_SALT, min_length=8)
    # What a click keeps besides its link, time and (daily-salted) visitor: its referrer's
    # host, its user agent's browser, OS and device, its country (docs/security.md).
    record_referrer: bool = True
    record_user_agent: bool = True
    record_location: bool = True

    # Security. Rate limits in the `limits` notation ("1200/minute", "20 per 1 minute"; empty
    # turns one off), counted in Redis when configured (replicas share one budget), else per
    # process. Defaults a busy integration never meets; redirects are not limited by default.
    rate_limit_per_key: str = "1200/minute"
    rate_limit_per_ip: str = "2400/minute"
    rate_limit_auth_failures: str = "20/minute"  # failed authentications per client IP
    rate_limit_redirects_per_ip: str = ""
    # Password-protected links: attempts per client IP and link, and per link from everywhere
    # (each costs the api an argon2 check); and how long a right password opens the link in
    # that browser (a cookie for that link alone).
    rate_limit_link_password_per_ip: str = "5/minute"
    rate_limit_link_password: str = "60/minute"
    link_unlock_minutes: float = Field(default=60.0, gt=0, le=24 * 60)
    links_per_key_per_day: int | None = Field(default=None, ge=1)  # a quota; unset: none
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)  # public API request bodies
    # ... and those of a batch (up to 1,000 links, /api/v1/links/bulk) or a CSV import.
    max_batch_body_bytes: int = Field(default=2 * 1024 * 1024, ge=1024)
    # Hosts links may not point at, besides loopback, private and link-local addresses and the
    # short domain itself: "evil.example" also blocks its subdomains. Comma-separated.
    blocked_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)

    # Webhooks (docs/webhooks.md). Their URLs may not reach loopback, private, link-local or
    # local names, at registration and at delivery, unless named here (comma-separated host
    # names or addresses, e.g. "127.0.0.1,collector.intranet"). Delivered by analytics: each
    # try waits at most webhook_timeout_s; a failed one is tried again after a jittered
    # exponential wait (base webhook_backoff_base_s, at most webhook_backoff_cap_s); after
    # webhook_max_failures failures in a row the endpoint is disabled. Clicks leave in batches
    # of at most webhook_click_batch_max, at least every webhook_click_batch_seconds. A replica
    # holds an endpoint for webhook_lease_s (longer than a try); idle, it looks for due
    # events every webhook_poll_s. A user may register at most webhook_max_per_user endpoints
    # (each is one more outbox row per event).
    webhook_max_per_user: int = Field(default=25, ge=1)
    webhook_allowed_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)
    webhook_timeout_s: float = Field(default=10.0, gt=0, le=60)
    webhook_backoff_base_s: float = Field(default=1.0, gt=0)
    webhook_backoff_cap_s: float = Field(default=3600.0, gt=0)
    webhook_max_failures: int = Field(default=20, ge=1)
    webhook_click_batch_seconds: float = Field(default=10.0, gt=0)
    webhook_click_batch_max: int = Field(default=100, ge=1, le=1000)
    webhook_lease_s: float = Field(default=60.0, gt=0)
    webhook_poll_s: float = Field(default=1.0, gt=0)

    # The dashboard (/app/): how long a sign-in lasts, and sign-in attempts per client IP and
    # per email (failed ones count). Sessions are signed with a key derived from the internal
    # token: rotating it signs everyone out.
    session_ttl_hours: float = Field(default=12.0, gt=0, le=24 * 30)
    rate_limit_sign_in: str = "10/minute"
    # The dashboard's live panels (server-sent events): at most this many open per user, and
    # per process; the capped Redis stream that carries the feed keeps about this many entries.
    live_max_streams_per_user: int = Field(default=5, ge=1)
    live_max_streams: int = Field(default=1000, ge=1)
    live_stream_length: int = Field(default=1000, ge=10)
    # Where a browser opening `/` on the short domain goes (API clients get a JSON 404).
    root_redirect: str = "/app/"
    # Where an unknown slug and an expired link on the default domain go (unset: Surge's 404
    # and 410 pages). Other domains have their own (`surge domains set`).
    not_found_redirect: str | None = None
    expired_redirect: str | None = None
    # A request whose Host is neither the default domain nor one added: "not_found" answers
    # 404; "default" serves it as the default domain (one domain reached by several names).
    unknown_hosts: Literal["not_found", "default"] = "not_found"
    # Origins whose pages may call the Shlink REST API (/rest/) from a browser (CORS),
    # comma-separated; "*": any. Safe as any by default: that API takes a key in a header,
    # never a cookie, so a page can only use a key it already holds.
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["*"])

    # On the first start with an empty database: an admin user (this email, a generated
    # password) and an admin API key, printed once.
    bootstrap_admin_key: bool = True
    bootstrap_admin_email: str = "admin@localhost"
    log_level: str = "info"
    # The HTTP server `surge serve` runs the app on: granian (HTTP in Rust, the app in worker
    # processes it supervises) unless uvicorn is asked for (docs/adr/0009: measured, and why).
    server: Literal["uvicorn", "granian"] = "granian"
    # granian's interface: its native RSGI (the cached redirect answered from granian's own
    # objects, the rest through an ASGI adapter; docs/adr/0012) or plain ASGI, the fallback.
    granian_interface: Literal["rsgi", "asgi"] = "rsgi"
    # Where the all-in-one (`surge serve`, service all) runs analytics: a child process on a
    # Unix socket (ingest and stats on another core, not under the redirects' GIL), or a thread
    # with an event loop of its own in the one process (docs/adr/0016).
    all_in_one_analytics: Literal["process", "thread"] = "process"
    # On uvicorn: requests run at once in one process; the rest wait their turn, read but not
    # started (surge.platform.uvicorn_server; docs/operations.md, overload). Not granian's
    # backpressure: that bounds connections, and a new one (an operator's) would wait. One
    # process only: `--workers N` on uvicorn runs plain uvicorn.run (logged at start).
    server_concurrency: int = Field(default=128, ge=1)
    # Observability. `build_commit` labels surge_build_info (set by the image build).
    build_commit: str = "unknown"
    metrics_enabled: bool = True
    # The share of redirects logged (one JSON line each): a viral spike must not become a
    # logging outage. API requests are always logged.
    redirect_log_sample: float = Field(default=0.0, ge=0.0, le=1.0)

    @model_validator(mode="before")
    @classmethod
    def _secrets_from_files(cls, values: object) -> object:
        """`SURGE_<NAME>_FILE=/run/secrets/x` sets <name> to that file's content (stripped)."""
        if not isinstance(values, dict):
            return values
        for name in SECRET_FILES:
            path = os.environ.get(f"SURGE_{name.upper()}_FILE")
            if path:
                try:
                    values[name] = Path(path).read_text().strip()
                except OSError as exc:
                    raise ValueError(f"SURGE_{name.upper()}_FILE: {exc.strerror}: {path}") from exc
        return values

    def default_secrets(self) -> list[str]:
        """The secrets still at their published defaults."""
        found = []
        if self.internal_token == DEFAULT_INTERNAL_TOKEN:
            found.append("SURGE_INTERNAL_TOKEN")
        if self.visitor_salt_secret == DEFAULT_VISITOR_SALT:
            found.append("SURGE_VISITOR_SALT_SECRET")
        return found

    def unsafe_secrets(self, host: str) -> str | None:
        """Why serving on `host` with these settings would be unsafe, or None: a published
        default secret is accepted only with SQLite on a loopback address."""
        defaults = self.default_secrets()
        if not defaults or (self.is_sqlite and host in LOOPBACK_HOSTS):
            return None
        where = "a non-SQLite database" if not self.is_sqlite else f"--host {host}"
        return (
            f"{' and '.join(defaults)} still hold their published defaults; with {where} "
            "set them (or their _FILE variants) to secrets of your own"
        )

    @field_validator("redirect_urls", mode="before")
    @classmethod
    def _split_urls(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip().rstrip("/") for part in value.split(",") if part.strip()]
        return value

    @field_validator("click_stream_consume_shards", mode="before")
    @classmethod
    def _shard_ranges(cls, value: object) -> object:
        """Ranges and single shards: "0-3,7" is [0, 1, 2, 3, 7]."""
        if not isinstance(value, str):
            return value
        shards: set[int] = set()
        for part in (p.strip() for p in value.split(",")):
            if part:
                first, _, last = part.partition("-")
                shards.update(range(int(first), int(last or first) + 1))
        return sorted(shards)

    @field_validator("database_replica_urls", mode="before")
    @classmethod
    def _url_list(cls, value: object) -> object:
        """A JSON list, or URLs separated by commas (URLs hold no commas here)."""
        if isinstance(value, str):
            if value.lstrip().startswith("["):
                return json.loads(value)
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip().rstrip("/") for part in value.split(",") if part.strip()]
        return value

    @field_validator("blocked_hosts", "webhook_allowed_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip().lower().rstrip(".") for part in value.split(",") if part.strip()]
        return value

    @field_validator(
        "rate_limit_per_key",
        "rate_limit_per_ip",
        "rate_limit_auth_failures",
        "rate_limit_redirects_per_ip",
        "rate_limit_sign_in",
    )
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        from limits import parse  # only where settings name a limit

        value = value.strip()
        if value:
            try:
                parse(value)
            except ValueError as exc:
                raise ValueError(f"not a rate limit like '1200/minute': {value!r}") from exc
        return value

    @field_validator("public_url", "api_url", "analytics_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http(s) URL with a host")
        return value.rstrip("/")

    @field_validator("country_header", "client_ip_header")
    @classmethod
    def _header_name(cls, value: str | None) -> str | None:
        return value.strip().lower() or None if value else None

    @field_validator("geoip_db", "clickhouse_url", mode="before")
    @classmethod
    def _unset_when_empty(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @model_validator(mode="after")
    def _prefix_spreads_over_a_cluster(self) -> Settings:
        # A hash tag in the prefix would put every key of Surge on one slot of one master.
        cluster = (self.redis_url or "").lower().startswith(("redis+cluster:", "rediss+cluster:"))
        if cluster and ("{" in self.redis_prefix or "}" in self.redis_prefix):
            raise ValueError("SURGE_REDIS_PREFIX must not hold braces with a Redis Cluster")
        return self

    @property
    def consumed_click_shards(self) -> list[int]:
        """The click stream shards this analytics process reads."""
        return self.click_stream_consume_shards or list(range(self.click_stream_shards))

    @model_validator(mode="after")
    def _replicas_of_postgresql(self) -> Settings:
        if self.database_replica_urls and (
            self.is_sqlite
            or not all(u.startswith("postgresql") for u in self.database_replica_urls)
        ):
            raise ValueError(
                "SURGE_DATABASE_REPLICA_URLS are PostgreSQL replicas of a PostgreSQL "
                "SURGE_DATABASE_URL (postgresql+asyncpg://...)"
            )
        return self

    @model_validator(mode="after")
    def _lease_outlasts_a_try(self) -> Settings:
        if self.webhook_lease_s <= self.webhook_timeout_s:
            raise ValueError("SURGE_WEBHOOK_LEASE_S must be longer than SURGE_WEBHOOK_TIMEOUT_S")
        return self

    @property
    def api_in_flight_limit(self) -> int:
        return self.max_in_flight_api or max(1, self.max_in_flight // 4)

    @cached_property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def migrates_on_start(self) -> bool:
        return self.is_sqlite if self.migrate_on_start is None else self.migrate_on_start

    @cached_property
    def public_host(self) -> str:
        return (urlsplit(self.public_url).hostname or "").lower()

    @cached_property
    def default_hosts(self) -> frozenset[str]:
        """The Host names served as the default domain: the public URL's, and when that is
        this machine's (the embedded default's http://127.0.0.1:8000), every name of this
        machine, so http://localhost:8000/slug works as the URL printed does."""
        if self.public_host in LOOPBACK_HOSTS:
            return LOOPBACK_HOSTS
        return frozenset({self.public_host})
