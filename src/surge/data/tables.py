"""The tables. `links` tables belong to the api service, `analytics` tables to analytics."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    literal_column,
    true,
)

from surge.data.types import BigIntId, UTCDateTime

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# Indexes only PostgreSQL has (SQLite has no trigram index), made by migrations and declared
# nowhere here (see LINK_SEARCH_TEXT); schema comparisons skip them.
POSTGRESQL_ONLY_INDEXES = frozenset({"ix_links_search_trgm"})

# --- links (api service) -----------------------------------------------------------------------

users = Table(
    "users",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    # None for a key-only owner (`surge keys create` without --user): it cannot sign in.
    Column("email", String(254), nullable=True, unique=True),
    Column("password_hash", String(255), nullable=True),  # argon2; None: cannot sign in
    Column("is_admin", Boolean, nullable=False, default=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("disabled_at", UTCDateTime, nullable=True),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column(
        "user_id", BigIntId, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    ),
    Column("name", String(100), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("key_prefix", String(16), nullable=False),
    Column("is_admin", Boolean, nullable=False, default=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime, nullable=True),
    Column("expires_at", UTCDateTime, nullable=True),
    Column("last_used_at", UTCDateTime, nullable=True),
)

links = Table(
    "links",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("slug", String(64), nullable=False),
    # The host it is served on; '' is the default domain (SURGE_PUBLIC_URL's host).
    Column("domain", String(253), nullable=False, server_default=""),
    Column("url", String(2048), nullable=False),
    Column("redirect_type", SmallInteger, nullable=False, default=302),
    Column(
        "owner_id",
        BigIntId,
        ForeignKey("users.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("expires_at", UTCDateTime, nullable=True),
    Column("max_clicks", Integer, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    # Clicks (human, bots) the link had at the shortener it came from (`surge import`; None:
    # made here). Stats add them to any range that includes created_at, and max_clicks counts
    # them (api/links/service.py, with_imported_clicks).
    Column("imported_clicks", BigInteger, nullable=True),
    Column("imported_bot_clicks", BigInteger, nullable=True),
    # Redirect rules as JSON (surge.data.rules); None: none.
    Column("rules", Text, nullable=True),
    Column("password_hash", String(255), nullable=True),  # argon2; None: not protected
    # The visitor's query string is merged into the target's (Shlink's default).
    Column("forward_query", Boolean, nullable=False, server_default=true()),
    Column("title", String(512), nullable=True),
    Column("valid_since", UTCDateTime, nullable=True),  # before it: answered as unknown
    Column("crawlable", Boolean, nullable=False, server_default=false()),  # in robots.txt
    Index("ix_links_owner_id_id", "owner_id", "id"),
    UniqueConstraint("domain", "slug", name="uq_links_domain"),
)

# Short domains besides the default one, each with where `/`, an unknown slug and an expired
# link go (None: the default pages).
domains = Table(
    "domains",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("host", String(253), nullable=False, unique=True),
    Column("root_url", String(2048), nullable=True),
    Column("not_found_url", String(2048), nullable=True),
    Column("expired_url", String(2048), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
)

# Search (`?q=`, ILIKE '%q%'): one text per link, slug and URL, that the query and its index share
# (surge.links.repository, search_clause); the space keeps a term from matching across the
# two when it has none itself. Its GIN trigram index (PostgreSQL only, when pg_trgm can be
# created) is made by migration 0007 and not declared here: alembic cannot compare an expression
# index with a declaration (and warns about one on SQLite). SQLite scans the owner's links.
LINK_SEARCH_TEXT = links.c.slug + literal_column("' '") + links.c.url

link_tags = Table(
    "link_tags",
    metadata,
    Column(
        "link_id",
        BigIntId,
        ForeignKey("links.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("tag", String(64), primary_key=True),
    Index("ix_link_tags_tag", "tag"),
)

# --- analytics ---------------------------------------------------------------------------------

# Raw clicks: time-ordered, one row per event (no raw IP, ever). The event id is the idempotency
# key; the primary key also carries occurred_at because PostgreSQL partitions this table by month
# on it (see migration 0001 and surge.analytics.partitions) and a partitioned table's unique keys
# must include the partition key. An event's occurred_at is fixed at the redirect, so a redelivered
# event has the same (id, occurred_at) and is still stored once.
clicks = Table(
    "clicks",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("link_id", BigIntId, nullable=False),
    Column("occurred_at", UTCDateTime, primary_key=True),
    Column("referrer_host", String(255), nullable=True),
    Column("country", String(2), nullable=True),
    Column("device", String(16), nullable=False),
    Column("browser", String(64), nullable=False),
    Column("os", String(64), nullable=False),
    Column("is_bot", Boolean, nullable=False),
    Column("visitor_id", String(32), nullable=False),
    # Where a link with redirect rules sent it (surge.data.events.target_label); None: no rules.
    Column("target", String(255), nullable=True),
    # Where it came from, by GeoIP at ingest (surge.analytics.geoip): the first subdivision's
    # name and the city's, in the country above. The address they were found from is not kept.
    Column("region", String(128), nullable=True),
    Column("city", String(128), nullable=True),
    # BRIN on PostgreSQL: tiny, and clicks arrive in time order (on SQLite a plain index).
    Index("ix_clicks_occurred_at", "occurred_at", postgresql_using="brin"),
    # A link's raw visits in time order, read in keyset pages by exports (migration 0013).
    Index("ix_clicks_link_id_occurred_at_id", "link_id", "occurred_at", "id"),
)

# The rollups stats read instead of raw clicks (never COUNT(*) over `clicks`): each stats query
# reads at most one row per bucket and value, however many clicks a link has.
# Clicks per link per UTC hour, bots apart: totals and the time series.
hourly_clicks = Table(
    "hourly_clicks",
    metadata,
    Column("link_id", BigIntId, primary_key=True),
    Column("bucket", UTCDateTime, primary_key=True),
    Column("is_bot", Boolean, primary_key=True),
    Column("clicks", BigInteger, nullable=False),
)

# Clicks per link per UTC day and value of each dimension (referrer, country, region, city,
# device, browser, os, target), bots apart, and the day's unique visitors (dimension "visitors",
# value ""). The key leads with (link_id, day): a stats request reads its days' rows as one
# range of the index.
daily_breakdowns = Table(
    "daily_breakdowns",
    metadata,
    Column("link_id", BigIntId, primary_key=True),
    Column("day", Date, primary_key=True),
    Column("dimension", String(16), primary_key=True),
    Column("value", String(255), primary_key=True),
    Column("is_bot", Boolean, primary_key=True),
    Column("clicks", BigInteger, nullable=False),
)

# Distinct (daily-salted) visitors per link and day, read only by ingest: a row inserted here
# is a new visitor, and bumps the day's "visitors" counter in daily_breakdowns. The salt changes
# daily, so a visitor id never links one person across days.
daily_visitors = Table(
    "daily_visitors",
    metadata,
    Column("link_id", BigIntId, primary_key=True),
    Column("day", Date, primary_key=True),
    Column("visitor_id", String(32), primary_key=True),
)

# A link's visits deleted (its owner asked): every click of it before `before` is gone, raw and
# rolled up, and ingest drops any that arrives late (a redirect's buffer, a spool replayed
# after an outage), so deleted visits stay deleted. One row per link that ever had its visits
# deleted; ingest reads it per batch (surge.analytics.ingest_sql).
visit_deletions = Table(
    "visit_deletions",
    metadata,
    Column("link_id", BigIntId, primary_key=True),
    Column("before", UTCDateTime, nullable=False),
)

# --- orphan visits (analytics; surge.data.orphans) ---------------------------------------------

# Raw orphan visits: requests on a short domain that found no link, one row per visit (no raw
# IP), under the raw clicks' retention. The event id is the idempotency key, as for clicks.
orphan_visits = Table(
    "orphan_visits",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("occurred_at", UTCDateTime, primary_key=True),
    Column("domain", String(253), nullable=False),  # '' the default domain
    Column("path", String(255), nullable=False),
    Column("kind", String(32), nullable=False),  # base_url | invalid_short_url | regular_404
    Column("referrer_host", String(255), nullable=True),
    Column("country", String(2), nullable=True),
    Column("region", String(128), nullable=True),
    Column("city", String(128), nullable=True),
    Column("device", String(16), nullable=False),
    Column("browser", String(64), nullable=False),
    Column("os", String(64), nullable=False),
    Column("is_bot", Boolean, nullable=False),
    Column("visitor_id", String(32), nullable=False),
    Index("ix_orphan_visits_occurred_at", "occurred_at", postgresql_using="brin"),
)

# The one rollup of orphan visits: per UTC hour, domain and kind, bots apart. Its size grows
# with time and domains, never with the paths visited (paths are in the raw rows only).
hourly_orphan_visits = Table(
    "hourly_orphan_visits",
    metadata,
    Column("bucket", UTCDateTime, primary_key=True),
    Column("domain", String(253), primary_key=True),
    Column("kind", String(32), primary_key=True),
    Column("is_bot", Boolean, primary_key=True),
    Column("visits", BigInteger, nullable=False),
)

# --- webhooks (surge.webhooks; docs/adr/0008) --------------------------------------------------

# Where a user wants to be told of events: an HTTP(S) URL, the events it takes
# (",link.created,link.clicked," — commas around each, so a LIKE finds one exactly) and at most
# one filter (a link's id, or a tag). The secret signs every delivery; it is shown once. A
# replica delivering an endpoint's events holds its lease (lease_owner until lease_until).
webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column(
        "owner_id", BigIntId, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    ),
    Column("url", String(2048), nullable=False),
    Column("events", String(255), nullable=False),
    # Filters: only this link's events (not a foreign key: its deletion is one of them), or
    # only those of links with this tag.
    Column("link_id", BigInteger, nullable=True),
    Column("tag", String(64), nullable=True),
    Column("secret", String(64), nullable=False),
    Column("enabled", Boolean, nullable=False, server_default=true()),
    Column("disabled_reason", String(500), nullable=True),
    Column("consecutive_failures", Integer, nullable=False, server_default="0"),
    Column("created_at", UTCDateTime, nullable=False),
    Column("lease_owner", String(64), nullable=True),
    Column("lease_until", UTCDateTime, nullable=True),
)


def _endpoint_id() -> Column[int]:
    """The endpoint a row is of: it goes with its endpoint."""
    return Column(
        "endpoint_id",
        BigIntId,
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE"),
        nullable=False,
    )


# The durable outbox: one row per event and endpoint, written in the transaction of the change
# that caused it, delivered in `seq` order per endpoint. `body` is the JSON delivered and
# signed, byte for byte. The head's next try waits until next_attempt_at (backoff).
webhook_outbox = Table(
    "webhook_outbox",
    metadata,
    Column("seq", BigIntId, primary_key=True, autoincrement=True),
    _endpoint_id(),
    Column("event_id", String(36), nullable=False),
    Column("type", String(32), nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("delivered_at", UTCDateTime, nullable=True),
    # An endpoint's undelivered events, in order: the head is the first row of this index.
    Index(
        "ix_webhook_outbox_pending",
        "endpoint_id",
        "seq",
        sqlite_where=literal_column("delivered_at IS NULL"),
        postgresql_where=literal_column("delivered_at IS NULL"),
    ),
    Index("ix_webhook_outbox_endpoint_id_event_id", "endpoint_id", "event_id"),
)

# Clicks waiting to leave in a link.clicked batch, one row per click and endpoint, written by
# ingest for exactly the clicks it inserted; moved into one outbox event per endpoint at most
# every SURGE_WEBHOOK_CLICK_BATCH_SECONDS or SURGE_WEBHOOK_CLICK_BATCH_MAX clicks.
webhook_click_queue = Table(
    "webhook_click_queue",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    _endpoint_id(),
    Column("click", Text, nullable=False),  # the click's JSON as the event carries it
    Column("queued_at", UTCDateTime, nullable=False),
    Index("ix_webhook_click_queue_endpoint_id_id", "endpoint_id", "id"),
)

# Every delivery attempt, for the owner to see (status, latency, error).
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    _endpoint_id(),
    Column("event_id", String(36), nullable=False),
    Column("type", String(32), nullable=False),
    Column("attempted_at", UTCDateTime, nullable=False),
    Column("status_code", Integer, nullable=True),  # None: no HTTP answer
    Column("latency_ms", Integer, nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("error", String(500), nullable=True),
    Index("ix_webhook_deliveries_endpoint_id_id", "endpoint_id", "id"),
)
