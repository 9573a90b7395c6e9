"""Bare ASGI 302 vs Surge's cached redirect: same server, same settings, same load generator.

`make bench` runs this. It starts, all on 127.0.0.1 and on free ports:
  - the bare app (bench/bare_asgi.py) under uvicorn with the options `surge serve` uses;
  - Surge as three real processes (`surge serve --service api|analytics|redirect`) on a
    throwaway SQLite database, with one API key and one link, `/bench`;
then alternates bare, surge, bare, surge... so drift (thermal, noisy neighbours) hits both
equally, and prints req/s and p99 per round, the medians, and the ratio Surge/bare. Finally it
checks that the clicks the redirect served were counted by analytics. The whole run is bounded
(< 120 s) and always cleans up its processes and temp dir. See bench/README.md for the method.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
HOST = "127.0.0.1"
SLUG = "bench"
LANDING = "https://example.com/landing"
TIME_LIMIT_S = 115.0  # the brief: under two minutes, cleanup included
STARTUP_TIMEOUT_S = 30.0
CLICKS_TIMEOUT_S = 30.0
CLICKS_STABLE_S = 5.0  # a backlogged flusher posts up to 5,000 events at once: allow slow gaps
STOP_TIMEOUT_S = 5.0
CLEANUP_RESERVE_S = 12.0  # kept back from every step so cleanup always has time
# Analytics is paused during measured runs (see `paused`); its clients must wait, not give up.
INTERNAL_TIMEOUT_S = 60
INTERNAL_TOKEN = "surge-bench-internal-token"
NOISE_CORES = 0.25  # CPU used by foreign processes during a run above which we warn
WRK = shutil.which("wrk")


class BenchError(Exception):
    """Why the benchmark could not run; printed as one line."""


# --- time budget ----------------------------------------------------------------------------


class Budget:
    def __init__(self, limit_s: float) -> None:
        self.start = time.monotonic()
        self.limit_s = limit_s

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def remaining(self) -> float:
        return self.limit_s - self.elapsed()

    def require(self, seconds: float, what: str) -> None:
        """Fail now, cleanly, rather than be killed halfway through a step."""
        if self.remaining() - CLEANUP_RESERVE_S < seconds:
            raise BenchError(f"time budget of {self.limit_s:.0f}s exhausted before {what}")


# --- processes ------------------------------------------------------------------------------


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path
    ready_status: int = 200  # what /healthz answers once the server is up

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def last_log_line(self) -> str:
        with contextlib.suppress(OSError):
            lines = [ln for ln in self.log.read_text(errors="replace").splitlines() if ln.strip()]
            if lines:
                return lines[-1].strip()[:300]
        return "(no output)"


def free_ports(count: int) -> list[int]:
    """Ports the OS calls free; all bound at once so the same one is never handed out twice."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind((HOST, 0))
        return [sock.getsockname()[1] for sock in sockets]


def start_server(
    name: str,
    port: int,
    argv: Sequence[str],
    env: dict[str, str],
    tmp: Path,
    ready_status: int = 200,
) -> Server:
    log = tmp / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(argv, cwd=tmp, env=env, stdout=out, stderr=subprocess.STDOUT)
    return Server(name, port, process, log, ready_status)


def wait_ready(servers: Sequence[Server], budget: Budget) -> None:
    """Poll each server's /healthz until it answers; uvicorn only listens after startup."""
    deadline = time.monotonic() + min(STARTUP_TIMEOUT_S, budget.remaining() - CLEANUP_RESERVE_S)
    with httpx.Client(timeout=1.0) as client:
        for server in servers:
            while True:
                if server.process.poll() is not None:
                    raise BenchError(
                        f"{server.name} exited with code {server.process.returncode}: "
                        f"{server.last_log_line()}"
                    )
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(f"{server.url}/healthz").status_code == server.ready_status:
                        break
                if time.monotonic() > deadline:
                    raise BenchError(f"{server.name} not ready on {server.url} in time")
                time.sleep(0.05)


def stop_servers(servers: Sequence[Server]) -> None:
    """SIGTERM one at a time in reverse start order (redirect flushes to a live analytics)."""
    for server in reversed(servers):
        if server.process.poll() is not None:
            continue
        server.process.send_signal(signal.SIGCONT)  # a stopped process would not see SIGTERM
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(timeout=STOP_TIMEOUT_S)


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process, from /proc (Linux); None where unavailable."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def foreign_cpu_seconds(ours: set[int]) -> dict[int, float] | None:
    """CPU time of every user-space process that is not the bench's own, by pid; None without
    /proc. Kernel threads are left out: they mostly carry our own loopback traffic."""
    if not Path("/proc/self/stat").exists():
        return None
    usage: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in ours:
            continue
        with contextlib.suppress(OSError):
            seconds = cpu_seconds(int(entry.name))
            if seconds is not None and (entry / "cmdline").read_bytes():
                usage[int(entry.name)] = seconds
    return usage


@contextlib.contextmanager
def paused(server: Server) -> Iterator[None]:
    """SIGSTOP a server for a while. On a small box analytics catching up on clicks eats a core,
    which would be taken from whichever server is measured; paused, it takes from neither."""
    server.process.send_signal(signal.SIGSTOP)
    try:
        yield
    finally:
        server.process.send_signal(signal.SIGCONT)


def run_cli(argv: Sequence[str], env: dict[str, str], cwd: Path, budget: Budget) -> str:
    budget.require(5, f"`{' '.join(argv[2:])}`")
    try:
        done = subprocess.run(
            argv,
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=min(60.0, budget.remaining() - CLEANUP_RESERVE_S),
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"`{' '.join(argv[2:])}` timed out") from exc
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines() or ["(no output)"]
        raise BenchError(f"`{' '.join(argv[2:])}` failed: {lines[-1]}")
    return done.stdout


# --- the two systems under test -------------------------------------------------------------


@dataclass
class Surge:
    api: Server
    analytics: Server
    redirect: Server
    key: str


def surge_env(tmp: Path, api: int, analytics: int, redirect: int) -> dict[str, str]:
    # Inherited SURGE_* settings (a developer's Redis, say) would make runs incomparable.
    env = {k: v for k, v in os.environ.items() if not k.startswith("SURGE_")}
    env.update(
        SURGE_DATABASE_URL=f"sqlite+aiosqlite:///{tmp / 'bench.db'}",
        SURGE_API_URL=f"http://{HOST}:{api}",
        SURGE_ANALYTICS_URL=f"http://{HOST}:{analytics}",
        SURGE_REDIRECT_URLS=f"http://{HOST}:{redirect}",
        SURGE_PUBLIC_URL=f"http://{HOST}:{redirect}",
        SURGE_BOOTSTRAP_ADMIN_KEY="false",
        SURGE_INTERNAL_TOKEN=INTERNAL_TOKEN,
        SURGE_LOG_LEVEL="warning",
        # A paused analytics must look slow to the redirect's click flusher, not down: else the
        # flusher times out, spools to disk and retries, which is not the steady state measured.
        SURGE_INTERNAL_TIMEOUT_S=str(INTERNAL_TIMEOUT_S),
    )
    return env


def bare_argv(port: int) -> list[str]:
    # The same uvicorn options as `surge serve` (surge.cli._serve); loop and http stay on
    # "auto", i.e. uvloop and httptools from uvicorn[standard], for both.
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "bare_asgi:app",
        "--app-dir",
        str(BENCH_DIR),
        "--host",
        HOST,
        "--port",
        str(port),
        "--lifespan",
        "on",
        "--log-level",
        "warning",
        "--no-access-log",
        "--timeout-graceful-shutdown",
        "20",
    ]


def surge_argv(service: str, port: int) -> list[str]:
    return [sys.executable, "-m", "surge.cli", "serve", "--service", service, "--port", str(port)]


def start_all(tmp: Path, servers: list[Server], budget: Budget) -> tuple[Server, Surge]:
    """Start bare + Surge; `servers` collects each process as it starts, for cleanup."""
    bare_port, api_port, analytics_port, redirect_port = free_ports(4)
    env = surge_env(tmp, api_port, analytics_port, redirect_port)
    cli = [sys.executable, "-m", "surge.cli"]
    # Migrate once up front, so the services start on a current schema instead of migrating.
    run_cli([*cli, "migrate"], env, tmp, budget)
    # Analytics first and redirect last: the order `stop_servers` reverses.
    for name, port in (
        ("analytics", analytics_port),
        ("api", api_port),
        ("redirect", redirect_port),
    ):
        servers.append(start_server(name, port, surge_argv(name, port), env, tmp))
    # The bare app answers everything, /healthz included, with its 302.
    servers.append(start_server("bare", bare_port, bare_argv(bare_port), env, tmp, 302))
    # Created while the servers start up: the key goes straight into the database.
    output = run_cli([*cli, "keys", "create", "--name", "bench"], env, tmp, budget).split()
    if not output:
        raise BenchError("`surge keys create` printed no key")
    wait_ready(servers, budget)
    analytics, api, redirect, bare = servers
    return bare, Surge(api, analytics, redirect, output[-1])


def create_link(surge: Surge) -> None:
    response = httpx.post(
        f"{surge.api.url}/api/v1/links",
        json={"url": LANDING, "slug": SLUG},
        headers={"authorization": f"Bearer {surge.key}"},
        timeout=10.0,
    )
    if response.status_code != 201:
        raise BenchError(f"creating the link failed: {response.status_code} {response.text[:200]}")


def check_redirect(name: str, url: str, location: str | None) -> None:
    """One GET, not followed: a 302, with the expected Location when one is given."""
    try:
        response = httpx.get(url, timeout=10.0, follow_redirects=False)
    except httpx.HTTPError as exc:
        raise BenchError(f"{name}: GET {url} failed: {exc!r}") from exc
    got = response.headers.get("location")
    if response.status_code != 302 or not got or (location is not None and got != location):
        raise BenchError(
            f"{name}: GET {url} answered {response.status_code} location={got!r}, "
            f"expected 302 location={location or 'any'!r}"
        )


# --- load generation ------------------------------------------------------------------------


@dataclass
class Load:
    requests: int
    seconds: float
    rps: float
    p99_ms: float
    errors: int  # socket errors, timeouts and answers that were not a 3xx


@dataclass
class Config:
    rounds: int
    duration_s: int
    warmup_s: int
    connections: int
    threads: int
    generator: str = field(init=False)

    def __post_init__(self) -> None:
        self.generator = (
            f"wrk -t{self.threads} -c{self.connections} -d{self.duration_s}s --latency"
            if WRK
            else f"python asyncio fallback (wrk not found), {self.connections} connections"
        )


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


def parse_wrk(output: str) -> Load:
    p99 = re.search(r"^\s*99%\s+([\d.]+)(us|ms|s|m|h)\s*$", output, re.MULTILINE)
    total = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m|h)", output)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if not (p99 and total and rps):
        raise BenchError(f"could not parse wrk's output: {output.strip()[:200]!r}")
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", output))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    # 302 is a "3xx" to wrk, so only real failures land in that line.
    errors += int(bad.group(1)) if bad else 0
    return Load(
        requests=int(total.group(1)),
        seconds=float(total.group(2)) * _UNITS_MS[total.group(3)] / 1000,
        rps=float(rps.group(1)),
        p99_ms=float(p99.group(1)) * _UNITS_MS[p99.group(2)],
        errors=errors,
    )


def run_wrk(url: str, seconds: int, config: Config) -> Load:
    assert WRK is not None
    argv = [WRK, f"-t{config.threads}", f"-c{config.connections}", f"-d{seconds}s", "--latency"]
    try:
        done = subprocess.run(
            [*argv, url], capture_output=True, text=True, timeout=seconds + 15, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"wrk against {url} did not finish") from exc
    if done.returncode != 0:
        raise BenchError(f"wrk failed: {(done.stderr or done.stdout).strip()[:200]}")
    return parse_wrk(done.stdout)


_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)", re.IGNORECASE)


async def _connection(
    host: str, port: int, request: bytes, end: float, latencies: list[float]
) -> int:
    """One keep-alive connection sending GETs back to back until `end`; returns its errors."""
    loop = asyncio.get_running_loop()
    errors = 0
    while loop.time() < end:
        try:
            reader, writer = await asyncio.open_connection(host, port)
        except OSError:
            errors += 1
            await asyncio.sleep(0.05)
            continue
        try:
            while (sent := loop.time()) < end:
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = _CONTENT_LENGTH.search(head)
                if length and int(length.group(1)):
                    await reader.readexactly(int(length.group(1)))
                if head[9:10] != b"3":  # "HTTP/1.1 302 ...": only a redirect is a success
                    errors += 1
                latencies.append(loop.time() - sent)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            errors += 1  # reconnect and go on, as wrk does
        finally:
            writer.close()
    return errors


async def _python_load(url: str, seconds: int, concurrency: int) -> Load:
    """Fallback when wrk is missing: raw asyncio HTTP/1.1 keep-alive GETs. httpx's pool slows
    down as concurrency grows (about 300 req/s at 32), so it would measure itself, not the
    server; this still measures far less than wrk can, so compare its runs only with each other.
    """
    parts = httpx.URL(url)
    host, port = parts.host, parts.port or 80
    request = f"GET {parts.raw_path.decode()} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
    latencies: list[float] = []
    loop = asyncio.get_running_loop()
    start = loop.time()
    errors = await asyncio.gather(
        *(_connection(host, port, request, start + seconds, latencies) for _ in range(concurrency))
    )
    elapsed = loop.time() - start
    if not latencies:
        raise BenchError(f"no request to {url} succeeded")
    p99 = statistics.quantiles(latencies, n=100)[98] if len(latencies) > 1 else latencies[0]
    return Load(len(latencies), elapsed, len(latencies) / elapsed, p99 * 1000, sum(errors))


def generate_load(url: str, seconds: int, config: Config) -> Load:
    if WRK:
        return run_wrk(url, seconds, config)
    return asyncio.run(_python_load(url, seconds, config.connections))


# --- rounds and clicks ----------------------------------------------------------------------


@dataclass
class Run:
    round: int
    target: str
    warmup_requests: int
    load: Load
    server_cores: float | None  # CPU the server under test used: ~1.0 means it was saturated
    other_cores: float | None  # CPU used by processes not the bench's own: noise


def measured_run(
    server: Server, url: str, config: Config, surge: Surge, servers: Sequence[Server]
) -> tuple[Load, float | None, float | None]:
    """One measured run; also the CPU the server used and what other processes took meanwhile
    (wrk is started and reaped in between, so it never shows up as foreign)."""
    ours = {os.getpid(), *(s.process.pid for s in servers)}
    with paused(surge.analytics):
        server_before, foreign_before = cpu_seconds(server.process.pid), foreign_cpu_seconds(ours)
        start = time.monotonic()
        load = generate_load(url, config.duration_s, config)
        seconds = time.monotonic() - start
        server_after, foreign_after = cpu_seconds(server.process.pid), foreign_cpu_seconds(ours)
    server_cores = None
    if server_before is not None and server_after is not None:
        server_cores = round((server_after - server_before) / seconds, 2)
    other_cores = None
    if foreign_before is not None and foreign_after is not None:
        # A process started during the run counts in full; one that ended during it is missed.
        spent = sum(t - foreign_before.get(pid, 0.0) for pid, t in foreign_after.items())
        other_cores = round(max(0.0, spent) / seconds, 2)
    return load, server_cores, other_cores


def measure(
    targets: dict[str, tuple[Server, str]],
    surge: Surge,
    servers: Sequence[Server],
    config: Config,
    budget: Budget,
) -> list[Run]:
    runs: list[Run] = []
    for number in range(1, config.rounds + 1):
        for target, (server, url) in targets.items():
            budget.require(config.warmup_s + config.duration_s + 5, f"round {number} {target}")
            # Discarded: opens the connections and gives analytics time to catch up.
            warmup = generate_load(url, config.warmup_s, config)
            load, server_cores, other_cores = measured_run(server, url, config, surge, servers)
            runs.append(Run(number, target, warmup.requests, load, server_cores, other_cores))
            print(
                f"  round {number} {target:<5} {load.rps:>10,.0f} req/s  p99 {load.p99_ms:7.2f} ms",
                flush=True,
            )
    return runs


@dataclass
class Clicks:
    sent: int
    total: int
    bot_clicks: int
    waited_s: float
    ingest_per_s: float  # how fast the count grew while we waited


def fetch_counts(client: httpx.Client, surge: Surge) -> tuple[int, int] | None:
    with contextlib.suppress(httpx.HTTPError, ValueError, KeyError):
        response = client.get(f"{surge.api.url}/api/v1/links/{SLUG}/stats")
        if response.status_code == 200:
            body = response.json()
            return int(body["total"]), int(body["bot_clicks"])
    return None


def wait_for_clicks(surge: Surge, sent: int, budget: Budget) -> Clicks:
    """Poll the stats until every click is in, or the count stops growing, or time is up."""
    start = time.monotonic()
    deadline = start + max(0.0, min(CLICKS_TIMEOUT_S, budget.remaining() - CLEANUP_RESERVE_S))
    headers = {"authorization": f"Bearer {surge.key}"}
    first: int | None = None
    counts, changed = (0, 0), start
    with httpx.Client(headers=headers, timeout=10.0) as client:
        while True:
            latest = fetch_counts(client, surge)
            now = time.monotonic()
            if latest is not None and first is None:
                first = sum(latest)
            if latest is not None and latest != counts:
                counts, changed = latest, now
            if sum(counts) >= sent or now - changed >= CLICKS_STABLE_S or now >= deadline:
                break
            time.sleep(0.5)
    waited = time.monotonic() - start
    rate = (sum(counts) - (first or 0)) / waited if waited > 0 else 0.0
    return Clicks(sent, counts[0], counts[1], round(waited, 2), round(rate))


# --- report ---------------------------------------------------------------------------------


def summarize(runs: Sequence[Run]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for target in ("bare", "surge"):
        mine = [r.load for r in runs if r.target == target]
        summary[target] = {
            "median_rps": statistics.median(load.rps for load in mine),
            "median_p99_ms": statistics.median(load.p99_ms for load in mine),
            "errors": sum(load.errors for load in mine),
        }
    summary["ratio_surge_over_bare_rps"] = (
        summary["surge"]["median_rps"] / summary["bare"]["median_rps"]
    )
    return summary


def _cores(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def print_report(runs: Sequence[Run], summary: dict[str, Any], clicks: Clicks) -> None:
    print()
    print(
        f"{'round':<7}{'target':<8}{'req/s':>12}{'p99 ms':>10}{'requests':>11}{'errors':>8}"
        f"{'server cpu':>12}{'other cpu':>11}"
    )
    for run in runs:
        load = run.load
        print(
            f"{run.round:<7}{run.target:<8}{load.rps:>12,.0f}{load.p99_ms:>10.2f}"
            f"{load.requests:>11,}{load.errors:>8}"
            f"{_cores(run.server_cores):>12}{_cores(run.other_cores):>11}"
        )
    for target in ("bare", "surge"):
        s = summary[target]
        print(f"{'median':<7}{target:<8}{s['median_rps']:>12,.0f}{s['median_p99_ms']:>10.2f}")
    print(f"\nratio surge/bare (median req/s): {summary['ratio_surge_over_bare_rps']:.2f}")
    for target in ("bare", "surge"):
        if summary[target]["errors"]:
            print(f"warning: {summary[target]['errors']} failed requests against {target}")
    noisy = [r for r in runs if r.other_cores is not None and r.other_cores > NOISE_CORES]
    if noisy:
        worst = max(r.other_cores or 0.0 for r in noisy)
        print(
            f"warning: other processes used up to {worst:.2f} cores in {len(noisy)} of "
            f"{len(runs)} runs; the numbers are noisy, run again on a quiet machine"
        )
    counted = clicks.total + clicks.bot_clicks
    print(
        f"clicks counted: {counted:,} of {clicks.sent:,} sent "
        f"(total {clicks.total:,}, bots {clicks.bot_clicks:,}; waited {clicks.waited_s:.1f}s, "
        f"ingesting {clicks.ingest_per_s:,.0f}/s)"
    )
    if counted < clicks.sent:
        # Not a failure: the redirect holds the rest and analytics is still catching up.
        print(f"  {clicks.sent - counted:,} not counted yet when the wait ended")


def save(payload: dict[str, Any]) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS_DIR / f"redirect-{stamp}.json"
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path


def display(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


# --- main -----------------------------------------------------------------------------------


@contextlib.contextmanager
def sigterm_as_exit() -> Iterator[None]:
    """A SIGTERM to the bench (e.g. from CI) still runs the cleanup in `finally`."""

    def handler(_signum: int, _frame: object) -> None:
        raise SystemExit(143)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def bench(config: Config, budget: Budget, tmp: Path, servers: list[Server]) -> dict[str, Any]:
    print(f"load generator: {config.generator} (warmup {config.warmup_s}s per run)", flush=True)
    print("analytics is paused during measured runs and catches up during warmups", flush=True)
    bare, surge = start_all(tmp, servers, budget)
    create_link(surge)
    targets = {
        "bare": (bare, f"{bare.url}/{SLUG}"),
        "surge": (surge.redirect, f"{surge.redirect.url}/{SLUG}"),
    }
    check_redirect("bare", targets["bare"][1], None)
    check_redirect("surge", targets["surge"][1], LANDING)  # also warms the redirect cache
    print(
        f"servers ready after {budget.elapsed():.1f}s; running {config.rounds} rounds", flush=True
    )
    runs = measure(targets, surge, servers, config, budget)
    surge_runs = [r for r in runs if r.target == "surge"]
    sent = 1 + sum(r.warmup_requests + r.load.requests for r in surge_runs)
    clicks = wait_for_clicks(surge, sent, budget)
    summary = summarize(runs)
    print_report(runs, summary, clicks)
    return {
        "config": asdict(config),
        "environment": {"python": sys.version.split()[0], "cpus": os.cpu_count()},
        "runs": [asdict(run) for run in runs],
        "summary": summary,
        "clicks": asdict(clicks),
    }


def parse_args(argv: Sequence[str] | None) -> Config:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=6, help="seconds measured per run")
    parser.add_argument("--warmup", type=int, default=2, help="seconds discarded before each run")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    if min(args.rounds, args.duration, args.warmup, args.connections, args.threads) < 1:
        parser.error("every option must be at least 1")
    return Config(args.rounds, args.duration, args.warmup, args.connections, args.threads)


def main(argv: Sequence[str] | None = None) -> int:
    config = parse_args(argv)
    budget = Budget(TIME_LIMIT_S)
    tmp = Path(tempfile.mkdtemp(prefix="surge-bench-"))
    servers: list[Server] = []
    code = 0
    try:
        with sigterm_as_exit():
            payload = bench(config, budget, tmp, servers)
            payload["elapsed_s"] = round(budget.elapsed(), 1)
            print(f"results: {display(save(payload))}")
    except BenchError as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        code = 1
    except Exception as exc:  # one clear line, never a traceback, and still clean up
        print(f"bench: error: {type(exc).__name__}: {exc}".splitlines()[0], file=sys.stderr)
        code = 1
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        code = 130
    finally:
        stop_servers(servers)
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"elapsed: {budget.elapsed():.1f}s")
    return code


if __name__ == "__main__":
    sys.exit(main())
