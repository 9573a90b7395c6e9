"""The `surge` command: serve, migrate, maintain, seed, keys (create, list, revoke)."""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from surge import __version__
from surge.analytics import commands as geoip_commands
from surge.capacity import commands as capacity_commands
from surge.cli_support import CliError, current_sessions
from surge.domains import commands as domain_commands
from surge.platform.clock import utc_now
from surge.platform.config import Settings
from surge.platform.validation import error_message
from surge.transfer import commands as transfer_commands
from surge.webhooks import commands as webhook_commands

if TYPE_CHECKING:  # the CLI imports the database layer only for the commands that need it
    pass

DEFAULT_PORTS = {"all": 8000, "api": 8001, "redirect": 8002, "analytics": 8003}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="surge", description=__doc__)
    parser.add_argument("--version", action="version", version=f"surge {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="serve one service, or all three in one process")
    serve.add_argument("--service", choices=list(DEFAULT_PORTS), default="all")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument(
        "--port", type=int, help="default: all 8000, api 8001, redirect 8002, analytics 8003"
    )
    serve.add_argument(
        "--workers", type=int, default=1, help="processes sharing the port (one per core)"
    )

    commands.add_parser("migrate", help="bring the database schema up to date")

    maintain = commands.add_parser(
        "maintain",
        help="create the coming months' click partitions (PostgreSQL) and expire raw clicks "
        "past SURGE_CLICK_RETENTION_DAYS; run daily",
    )
    maintain.add_argument(
        "--months-ahead", type=int, default=3, help="partitions to keep ready ahead (default: 3)"
    )

    copy = commands.add_parser(
        "migrate-clicks",
        help="copy the database's raw clicks into ClickHouse (SURGE_CLICKHOUSE_URL), resumable, "
        "then check each link's totals",
    )
    copy.add_argument("--to", choices=["clickhouse"], required=True, help="the click store")
    copy.add_argument("--page", type=int, default=10_000, help="clicks a page (default 10,000)")

    seed = commands.add_parser(
        "seed", help="fill the database with links and clicks (benchmarks, demos)"
    )
    seed.add_argument("--links", type=int, required=True, help="links to create")
    seed.add_argument("--clicks", type=int, required=True, help="clicks, spread Zipf-like")
    seed.add_argument("--days", type=float, default=90.0, help="history they span (default 90)")
    seed.add_argument(
        "--visitors", type=int, help="distinct visitors per day (default: each click a new one)"
    )
    seed.add_argument("--shuffle", action="store_true", help="ingest out of time order")

    accounts_parsers(commands)  # keys, users
    capacity_commands.add_commands(commands)  # loadtest, capacity
    transfer_commands.add_commands(commands)  # import, export
    domain_commands.add_commands(commands)  # domains
    webhook_commands.add_commands(commands)  # webhooks
    geoip_commands.add_commands(commands)  # geoip
    return parser


def accounts_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    keys = commands.add_parser("keys", help="manage API keys")
    key_commands = keys.add_subparsers(dest="keys_command", required=True)
    create = key_commands.add_parser("create", help="create an API key and print it once")
    create.add_argument("--name", required=True)
    create.add_argument("--admin", action="store_true")
    create.add_argument(
        "--expires-in-days", type=int, metavar="DAYS", help="the key stops working after DAYS"
    )
    create.add_argument(
        "--user", metavar="EMAIL", help="the key's owner (default: a new owner of its own)"
    )
    key_commands.add_parser("list", help="list the keys (never their secrets)")
    revoke = key_commands.add_parser("revoke", help="revoke a key: it stops working at once")
    revoke.add_argument("id", type=int, help="the key's id, from `surge keys list`")

    users = commands.add_parser("users", help="manage dashboard users")
    user_commands = users.add_subparsers(dest="users_command", required=True)
    add = user_commands.add_parser("create", help="create a user; prints a password once")
    add.add_argument("--email", required=True)
    add.add_argument("--admin", action="store_true")
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    reset = user_commands.add_parser("reset-password", help="set a user's password")
    reset.add_argument("--email", required=True)
    reset.add_argument("--password-stdin", action="store_true")
    user_commands.add_parser("list", help="list the users who can sign in")
    for verb in ("disable", "enable"):
        toggle = user_commands.add_parser(verb, help=f"{verb} a user (their keys too)")
        toggle.add_argument("--email", required=True)


# How long in-flight requests and the click flush may take after SIGTERM (the Kubernetes grace
# periods in deploy/k8s are sized from it).
GRACEFUL_SHUTDOWN_S = 20


def _check_before_serving(settings: Settings, service: str, host: str) -> None:
    """Refuse, in one line, what would run insecurely or fail later with a worse message."""
    if problem := settings.unsafe_secrets(host):
        raise CliError(problem)
    if service != "redirect" and not settings.migrates_on_start:
        asyncio.run(_require_current_schema(settings))


async def _require_current_schema(settings: Settings) -> None:
    from surge.platform.db import create_engine
    from surge.platform.logging import get_logger
    from surge.platform.migrations import is_current

    engine = create_engine(settings.database_url, timeout_s=settings.db_timeout_s)
    try:
        current = await is_current(engine)
    except Exception as exc:  # unreachable now: start anyway, /readyz says why meanwhile
        get_logger(__name__).warning("database_unreachable_at_start", error=repr(exc)[:300])
        return
    finally:
        await engine.dispose()
    if not current:
        raise CliError("the database schema is not current: run `surge migrate` first")


def _serve(settings: Settings, service: str, host: str, port: int | None, workers: int = 1) -> None:
    from surge.apps import SERVE_SERVICE_VARIABLE

    if not 1 <= workers <= 64:
        raise CliError("--workers must be 1 to 64")
    if workers > 1:
        # Each worker is a fresh interpreter that builds its own app from the environment.
        os.environ[SERVE_SERVICE_VARIABLE] = service
    analytics_child = service == "all" and settings.all_in_one_analytics == "process"
    metrics_dir = None
    if (workers > 1 or analytics_child) and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Set before anything imports prometheus_client, so /metrics sums every process: the
        # workers, and the all-in-one's analytics child (surge.analytics.process).
        metrics_dir = os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(
            prefix="surge-metrics-"
        )

    def remove_metrics_dir() -> None:  # made for this server: gone with it
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)

    try:
        _run_server(settings, service, host, port, workers, remove_metrics_dir)
    finally:  # granian, uvicorn's workers; uvicorn alone removes it first, through on_stopped
        remove_metrics_dir()


def _run_server(
    settings: Settings,
    service: str,
    host: str,
    port: int | None,
    workers: int,
    on_stopped: Callable[[], None],
) -> None:
    from surge.apps import build_app
    from surge.platform.logging import configure_logging, get_logger
    from surge.platform.tracing import configure_from_environment as configure_tracing

    configure_logging(settings.log_level)
    _check_before_serving(settings, service, host)
    port = port or DEFAULT_PORTS[service]
    if settings.server == "granian":
        _serve_granian(settings, service, host, port, workers)
        return
    import uvicorn

    configure_tracing(service)
    config: dict[str, Any] = {
        "host": host,
        "port": port,
        "lifespan": "on",
        "log_level": settings.log_level,
        "access_log": False,  # one log line per redirect would cost more than the redirect
        # Surge reads the client's address itself, from SURGE_CLIENT_IP_HEADER alone: uvicorn's
        # proxy-headers middleware (a pass over the headers per request) would only take a
        # loopback proxy's X-Forwarded-For as well.
        "proxy_headers": False,
        "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN_S,
    }
    if workers > 1:
        # The accept reader and the request gate are one process's (surge.platform.uvicorn_server:
        # its protocol class cannot travel to spawned workers yet): said, not silently dropped.
        get_logger(__name__).warning("server_concurrency_unbounded_with_workers", workers=workers)
        uvicorn.run("surge.apps:app_from_environment", factory=True, workers=workers, **config)
        return
    from surge.platform.uvicorn_server import GreedyAcceptServer, bounded_config

    # As uvicorn.run does, with every waiting connection accepted at once and a bounded number
    # of requests running (surge.platform.uvicorn_server says why).
    app = build_app(service, settings)  # type: ignore[arg-type]
    server = GreedyAcceptServer(bounded_config(app, settings.server_concurrency, **config))
    server.on_stopped = (on_stopped,)  # uvicorn ends the process with the signal that stopped it
    server.run()
    if not server.started:
        raise SystemExit(3)  # uvicorn's STARTUP_FAILURE; it logged why


def _serve_granian(settings: Settings, service: str, host: str, port: int, workers: int) -> None:
    """granian (HTTP in Rust) runs the app in worker processes it starts, each building it from
    the environment, whatever their number.

    A worker that dies (killed, out of memory) takes the server down, exit status 1, after the
    others have stopped and flushed their clicks: the supervisor (Kubernetes, systemd, compose)
    restarts a whole server and counts it, rather than granian keeping half of one running.
    A worker whose parent dies gets SIGTERM (surge.platform.shutdown.end_with_parent)."""
    from granian.constants import HTTPModes, Interfaces, Loops
    from granian.log import LogLevels
    from granian.server import Server

    from surge.apps import SERVE_SERVICE_VARIABLE

    os.environ[SERVE_SERVICE_VARIABLE] = service
    Server(
        "surge.apps:app_from_environment",
        factory=True,
        address=host,
        port=port,
        # Its native interface by default: the cached redirect answered from granian's own
        # objects, the rest through an ASGI adapter (surge.platform.rsgi; docs/adr/0012).
        interface=Interfaces(settings.granian_interface),
        workers=workers,
        loop=Loops.auto,  # uvloop, as uvicorn's "auto"
        http=HTTPModes.http1,  # as uvicorn: HTTP/2 ends at the edge
        websockets=False,
        log_level=LogLevels(settings.log_level.lower()),
        log_access=False,  # one log line per redirect would cost more than the redirect
        workers_kill_timeout=GRACEFUL_SHUTDOWN_S,
        respawn_failed_workers=False,  # said here, not left to granian's default: see above
    ).serve()


async def _migrate(settings: Settings) -> None:
    from surge.platform.db import create_engine
    from surge.platform.migrations import upgrade_to_head

    engine = create_engine(settings.database_url)
    try:
        await upgrade_to_head(engine)
    finally:
        await engine.dispose()
    if settings.clickhouse_url is not None:
        await _migrate_clickhouse(settings.clickhouse_url)


async def _migrate_clicks(settings: Settings, page: int) -> list[str]:
    """What `surge migrate-clicks --to clickhouse` did, a line each."""
    from tqdm import tqdm

    from surge.analytics.click_copy import ClickCopy
    from surge.analytics.clickhouse_repository import ClickHouseClicks
    from surge.analytics.clickhouse_schema import ensure_schema
    from surge.platform.clickhouse import HttpClickHouse
    from surge.platform.db import create_engine

    if settings.clickhouse_url is None:
        raise CliError("SURGE_CLICKHOUSE_URL is not set: no ClickHouse to copy clicks into")
    if not 100 <= page <= 1_000_000:
        raise CliError("--page must be 100 to 1,000,000")
    engine = create_engine(settings.database_url)
    clickhouse = HttpClickHouse(settings.clickhouse_url, timeout_s=300)
    try:
        await ensure_schema(clickhouse)
        copier = ClickCopy(engine, ClickHouseClicks(clickhouse))
        with tqdm(total=await copier.total(), unit="click", desc="clicks") as bar:
            result = await copier.copy(page=page, progress=bar.update)
        result = await copier.verify(result)
        orphans = await copier.copy_orphans(page=page)
    finally:
        await clickhouse.aclose()
        await engine.dispose()
    lines = [
        f"copied {result.copied:,} clicks ({result.read:,} read; the rest were there already)",
        f"checked {result.links_checked:,} links' totals: {len(result.mismatched):,} differ",
        f"copied {orphans:,} orphan visits",
    ]
    lines += [
        f"link {link_id}: {sql:,} in the database's rollups, {stored:,} in ClickHouse"
        for link_id, (sql, stored) in list(result.mismatched.items())[:20]
    ]
    return lines


async def _drop_clickhouse_months(url: str, cutoff: datetime) -> list[str]:
    from surge.analytics.clickhouse_repository import ClickHouseClicks
    from surge.platform.clickhouse import HttpClickHouse

    clickhouse = HttpClickHouse(url)
    try:
        return await ClickHouseClicks(clickhouse).drop_months_before(cutoff)
    finally:
        await clickhouse.aclose()


async def _migrate_clickhouse(url: str) -> None:
    """The click store's database and tables in ClickHouse, where missing."""
    from surge.analytics.clickhouse_schema import ensure_schema
    from surge.platform.clickhouse import HttpClickHouse

    clickhouse = HttpClickHouse(url)
    try:
        await ensure_schema(clickhouse)
    finally:
        await clickhouse.aclose()


async def _maintain(settings: Settings, months_ahead: int) -> list[str]:
    """What `surge maintain` did, a line each."""
    from surge.analytics.partitions import ensure_partitions
    from surge.analytics.retention import expire_raw_clicks
    from surge.platform.db import create_engine
    from surge.platform.migrations import is_current

    if not 0 <= months_ahead <= 120:
        raise CliError("--months-ahead must be 0 to 120")
    engine = create_engine(settings.database_url)
    now = utc_now()
    try:
        if not await is_current(engine):
            raise CliError("the database schema is not current: run `surge migrate` first")
        created = await ensure_partitions(engine, now, months_ahead=months_ahead)
        done = [f"created partition {name}" for name in created] or ["partitions up to date"]
        if settings.click_retention_days:
            expired = await expire_raw_clicks(engine, now, settings.click_retention_days)
            done += [f"dropped partition {name}" for name in expired.partitions_dropped]
            done.append(
                f"expired {expired.clicks_deleted:,} raw clicks, "
                f"{expired.orphan_visits_deleted:,} orphan visits and "
                f"{expired.visitor_rows_deleted:,} visitor rows older than "
                f"{settings.click_retention_days} days (rollups kept)"
            )
            if settings.clickhouse_url is not None:
                cutoff = now - timedelta(days=settings.click_retention_days)
                months = await _drop_clickhouse_months(settings.clickhouse_url, cutoff)
                done += [f"dropped ClickHouse month {month} of raw clicks" for month in months]
        return done
    finally:
        await engine.dispose()


async def _seed(settings: Settings, args: argparse.Namespace) -> str:
    from surge.capacity.seed import SeedPlan, seed

    if not 1 <= args.links <= 10_000_000:
        raise CliError("--links must be 1 to 10,000,000")
    if not 0 <= args.clicks <= 1_000_000_000:
        raise CliError("--clicks must be 0 to 1,000,000,000")
    if not 0 < args.days <= 3650:
        raise CliError("--days must be more than 0 and at most 3650")
    if args.visitors is not None and args.visitors < 1:
        raise CliError("--visitors must be at least 1")
    plan = SeedPlan(
        links=args.links,
        clicks=args.clicks,
        days=args.days,
        visitors=args.visitors,
        shuffle=args.shuffle,
    )
    from surge.analytics.clickhouse_repository import ClickHouseClicks
    from surge.platform.clickhouse import HttpClickHouse

    # Clicks go where analytics keeps them: ClickHouse when SURGE_CLICKHOUSE_URL is set.
    url = settings.clickhouse_url
    clickhouse = None if url is None else HttpClickHouse(url, timeout_s=300)
    try:
        async with current_sessions(settings) as sessions:
            result = await seed(
                sessions,
                plan,
                progress=sys.stderr.isatty(),
                clickhouse=None if clickhouse is None else ClickHouseClicks(clickhouse),
            )
    finally:
        if clickhouse is not None:
            await clickhouse.aclose()
    rate = result.clicks / result.seconds if result.seconds else 0.0
    return (
        f"seeded {len(result.link_ids):,} links and {result.ingested:,} clicks "
        f"in {result.seconds:.1f}s ({rate:,.0f} clicks/s)"
    )


def run(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as exc:
        error = exc.errors()[0]
        # A field's error names its variable; the secret files' check (no field) names its own.
        where = f"SURGE_{str(error['loc'][0]).upper()}: " if error["loc"] else ""
        raise CliError(where + error_message(error)) from exc
    if args.command == "serve":
        _serve(settings, args.service, args.host, args.port, args.workers)
    elif args.command == "migrate":
        asyncio.run(_migrate(settings))
        print("database is up to date")
    elif args.command == "maintain":
        for line in asyncio.run(_maintain(settings, args.months_ahead)):
            print(line)
    elif args.command == "migrate-clicks":
        for line in asyncio.run(_migrate_clicks(settings, args.page)):
            print(line)
    elif args.command == "seed":
        print(asyncio.run(_seed(settings, args)))
    elif args.command in ("keys", "users"):
        from surge.accounts.commands import run_accounts

        print(asyncio.run(run_accounts(settings, args)))
    elif args.command in capacity_commands.NAMES:
        return capacity_commands.dispatch(args, settings)
    elif args.command in transfer_commands.NAMES:
        return transfer_commands.dispatch(args, settings)
    elif args.command in domain_commands.NAMES:
        return domain_commands.dispatch(args, settings)
    elif args.command in geoip_commands.NAMES:
        return geoip_commands.dispatch(args, settings)
    elif args.command in webhook_commands.NAMES:
        return webhook_commands.dispatch(args, settings)
    return 0


def main(argv: Sequence[str] | None = None) -> None:
    try:
        code = run(argv)
    except CliError as exc:
        print(f"surge: error: {exc}", file=sys.stderr)
        code = 2
    except KeyboardInterrupt:
        code = 130
    except Exception as exc:  # one clear line, never a traceback
        print(f"surge: error: {type(exc).__name__}: {exc}".splitlines()[0], file=sys.stderr)
        code = 1
    sys.exit(code)


if __name__ == "__main__":
    main()
