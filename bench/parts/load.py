"""Load generation: wrk when it is installed, else a raw asyncio HTTP/1.1 keep-alive client."""

from __future__ import annotations

import asyncio
import re
import shutil
import statistics
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from .budget import BenchError
from .processes import pinned

WRK = shutil.which("wrk")


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
    user_agent: str | None = None  # wrk sends none: a link checker's request, not a person's
    load_cpus: str | None = None  # where wrk runs (taskset's list), away from the server's core
    generator: str = field(init=False)

    def __post_init__(self) -> None:
        self.generator = (
            " ".join(self.wrk_argv(self.duration_s))
            if WRK
            else f"python asyncio fallback (wrk not found), {self.connections} connections"
        )

    def wrk_argv(self, seconds: int) -> list[str]:
        argv = [WRK or "wrk", f"-t{self.threads}", f"-c{self.connections}", f"-d{seconds}s"]
        argv.append("--latency")
        if self.user_agent:
            argv += ["-H", f"User-Agent: {self.user_agent}"]
        return pinned(argv, self.load_cpus)


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
    try:
        done = subprocess.run(
            [*config.wrk_argv(seconds), url],
            capture_output=True,
            text=True,
            timeout=seconds + 15,
            check=False,
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


# wrk counts what it sent and what came back a 302, per thread, and prints the sums at the end:
# a system's own visit count can then be held to what it was sent (bench/peer.py).
COUNTER_LUA = """
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) sent = 0; redirects = 0; others = 0; req = wrk.format() end
function request() sent = sent + 1; return req end
function response(status, headers, body)
  if status == 302 then redirects = redirects + 1 else others = others + 1 end
end
function done(summary, latency, requests)
  local s, r, o = 0, 0, 0
  for _, t in ipairs(threads) do
    s = s + t:get("sent"); r = r + t:get("redirects"); o = o + t:get("others")
  end
  io.write(string.format("counted by wrk: sent=%d redirects=%d others=%d\\n", s, r, o))
end
"""
_COUNTED = re.compile(r"counted by wrk: sent=(\d+) redirects=(\d+) others=(\d+)")


@dataclass
class Counted:
    """A wrk run, and what it counted itself: requests sent (those still in flight when it
    stopped included: served, but not completed), and answers that were a 302 or not."""

    load: Load
    sent: int
    redirects: int
    others: int


def counter_script(folder: Path) -> list[str]:
    """wrk's options that load COUNTER_LUA, written to `folder`."""
    script = folder / "count.lua"
    script.write_text(COUNTER_LUA)
    return ["-s", str(script)]


def counted_wrk(argv: Sequence[str], url: str, seconds: int) -> Counted:
    """wrk run as `argv` (taskset, wrk, its options but the duration, `counter_script`'s)."""
    command = [*argv, f"-d{seconds}s", "--latency", url]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=seconds + 30, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"wrk against {url} did not finish") from exc
    counted = _COUNTED.search(done.stdout)
    if done.returncode != 0 or counted is None:
        raise BenchError(f"wrk failed: {(done.stderr or done.stdout).strip()[:200]}")
    sent, redirects, others = (int(n) for n in counted.groups())
    return Counted(parse_wrk(done.stdout), sent, redirects, others)
