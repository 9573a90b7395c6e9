"""`surge loadtest`: seed links through the API, run Locust headless and bounded on
loadtests/locustfile.py, and judge the run against the SLO.

The run folder holds plan.json (what the Locust process did), Locust's CSV files and HTML report,
locust.log, and result.json (the figures, the verdict; `surge capacity --sweep` reads it).
"""

from __future__ import annotations

import asyncio
import csv
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from surge.capacity.results import REDIRECTS, LoadTestError, Slo, judge, read_endpoints
from surge.capacity.traffic import LoadPlan, sweep_steps
from surge.platform.clock import utc_now

SEED_CONCURRENCY = 8
SEED_ATTEMPTS = 5
DEADLINE_SLACK_S = 60.0  # Locust's start and stop, on top of the plan's length
RESULT_FORMAT = 1


@dataclass(frozen=True)
class LoadTestArgs:
    scenario: str
    host: str
    api_url: str
    key: str
    users: int
    duration_s: float
    seed: int
    links: int
    slo: Slo
    out: Path
    locustfile: Path
    replicas_urls: tuple[str, ...] = ()
    steps: int = 8
    server_pid: int | None = None


def run_loadtest(args: LoadTestArgs) -> dict[str, Any]:
    """Do the whole run; returns result.json's content (also written to the run folder)."""
    args.out.mkdir(parents=True, exist_ok=True)
    run_id = f"lt{secrets.token_hex(3)}"
    started = utc_now()
    slugs = asyncio.run(_seed_links(args, run_id))
    try:
        plan = LoadPlan(
            scenario=args.scenario,
            users=args.users,
            duration_s=args.duration_s,
            seed=args.seed,
            slugs=tuple(slugs),
            api_url=args.api_url,
            hosts=args.replicas_urls or (args.host,),
            steps=(
                sweep_steps(args.users, args.duration_s, args.steps, len(args.replicas_urls))
                if args.scenario == "sweep"
                else ()
            ),
            measurements_file=str(args.out / "measurements.json"),
            run_id=run_id,
            server_pid=args.server_pid,
        )
        plan.to_file(args.out / "plan.json")
        _run_locust(args, plan)
    finally:
        asyncio.run(_delete_links(args, slugs))
    result = _result(args, plan, started)
    (args.out / "result.json").write_text(json.dumps(result, indent=2))
    return result


# --- links -------------------------------------------------------------------------------------


def _problem(response: httpx.Response) -> str:
    try:
        body = response.json()
        detail = body.get("detail") or body.get("title") or ""
    except ValueError:
        detail = response.text[:200]
    return f"HTTP {response.status_code} {detail}".strip()


async def _seed_links(args: LoadTestArgs, run_id: str) -> list[str]:
    """`args.links` links of this run, created through the API as any client would."""
    headers = {"authorization": f"Bearer {args.key}"}
    gate = asyncio.Semaphore(SEED_CONCURRENCY)
    async with httpx.AsyncClient(base_url=args.api_url, headers=headers, timeout=10.0) as client:

        async def create(i: int) -> str:
            slug = f"{run_id}-{i}"
            body = {"url": f"https://example.com/lt/{i}", "slug": slug, "tags": ["loadtest"]}
            async with gate:
                for _ in range(SEED_ATTEMPTS):
                    try:
                        response = await client.post("/api/v1/links", json=body)
                    except httpx.HTTPError as exc:
                        raise LoadTestError(
                            f"cannot reach the API at {args.api_url}: {exc!r}"
                        ) from exc
                    if response.status_code == 201:
                        return slug
                    if response.status_code == 401:
                        raise LoadTestError("the API refused the key (401): pass a live key")
                    if response.status_code not in (429, 503):
                        raise LoadTestError(f"creating links failed: {_problem(response)}")
                    # Rate-limited or shedding: wait as asked (bounded), then try again.
                    await asyncio.sleep(min(10.0, float(response.headers.get("retry-after", 1))))
                raise LoadTestError(f"creating links failed: {_problem(response)}")

        return list(await asyncio.gather(*(create(i) for i in range(args.links))))


async def _delete_links(args: LoadTestArgs, slugs: Sequence[str]) -> None:
    """Best effort: a link left behind is harmless, and named lt<run>-<n>."""
    headers = {"authorization": f"Bearer {args.key}"}
    gate = asyncio.Semaphore(SEED_CONCURRENCY)
    async with httpx.AsyncClient(base_url=args.api_url, headers=headers, timeout=10.0) as client:

        async def delete(slug: str) -> None:
            async with gate:
                try:
                    await client.delete(f"/api/v1/links/{slug}")
                except httpx.HTTPError:
                    pass

        await asyncio.gather(*(delete(slug) for slug in slugs))


# --- Locust ------------------------------------------------------------------------------------


def _run_locust(args: LoadTestArgs, plan: LoadPlan) -> None:
    out = args.out
    command = [
        sys.executable,
        "-m",
        "locust",
        "--locustfile",
        str(args.locustfile),
        "--headless",
        "--host",
        plan.hosts[0],
        "--csv",
        str(out / "locust"),
        "--html",
        str(out / "report.html"),
        "--only-summary",
        "--loglevel",
        "WARNING",
        "--logfile",
        str(out / "locust.log"),
        "--exit-code-on-error",
        "0",  # the verdict is ours, against the SLO, not "any failure at all"
        "--stop-timeout",
        "2",
    ]
    env = {
        **os.environ,
        "SURGE_LOADTEST_PLAN": str(out / "plan.json"),
        "SURGE_LOADTEST_KEY": args.key,
    }
    deadline = time.monotonic() + plan.end_s + DEADLINE_SLACK_S
    with open(out / "locust.out", "w") as output:
        process = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)
        try:
            _follow(process, out / "locust_stats_history.csv", plan.end_s, deadline)
        finally:
            _stop(process)
    if process.returncode != 0:
        tail = (out / "locust.out").read_text(errors="replace").strip().splitlines()[-1:]
        raise LoadTestError(
            f"Locust failed (exit {process.returncode}): {' '.join(tail) or 'no output'}; "
            f"see {out / 'locust.out'}"
        )


def _follow(
    process: subprocess.Popen[bytes], history: Path, length_s: float, deadline: float
) -> None:
    """Show progress on stderr (one line, rewritten on a terminal; every 10 s otherwise) until
    Locust exits; past the deadline, stop it."""
    tty = sys.stderr.isatty()
    started = last_line = time.monotonic()
    while process.poll() is None:
        if time.monotonic() > deadline:
            raise LoadTestError(f"Locust ran past its deadline ({length_s:.0f}s planned); stopped")
        try:
            process.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            pass
        now = time.monotonic()
        if not tty and now - last_line < 10:
            continue
        last_line = now
        line = f"{now - started:5.0f}s of ~{length_s:.0f}s  {_latest(history)}"
        print(f"\r{line:<78}" if tty else line, end="" if tty else "\n", file=sys.stderr)
    if tty:
        print(file=sys.stderr)


def _latest(history: Path) -> str:
    """The last row of Locust's stats history: users, req/s, failures so far."""
    try:
        with open(history) as f:
            rows = list(csv.DictReader(f))
    except OSError:
        return "starting"
    rows = [row for row in rows if row.get("Name") == "Aggregated"]
    if not rows:
        return "starting"
    row = rows[-1]
    return (
        f"users {row['User Count']:>4}  {float(row['Requests/s']):8.0f} req/s  "
        f"{row['Total Request Count']} requests, {row['Total Failure Count']} failed"
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)  # Locust writes its reports on SIGTERM
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


# --- results -----------------------------------------------------------------------------------


def _result(args: LoadTestArgs, plan: LoadPlan, started: datetime) -> dict[str, Any]:
    endpoints = read_endpoints(args.out / "locust_stats.csv")
    total = next((e for e in endpoints if e.name == "all"), None)
    redirects = next((e for e in endpoints if e.name == f"GET {REDIRECTS}"), None)
    try:
        measured = json.loads((args.out / "measurements.json").read_text())
    except (OSError, ValueError):
        measured = {"client_cores": None, "steps": []}
    steps = measured.get("steps", [])
    for step in steps:
        sent = step["requests"] + step["failures"]
        step["within_slo"] = not judge(
            step["p95_ms"],
            step["p99_ms"],
            step["requests"],
            step["failures"] / max(1, sent),
            args.slo,
        )
    missed = judge(
        redirects.p95_ms if redirects else None,
        redirects.p99_ms if redirects else None,
        redirects.requests - redirects.failures if redirects else 0,
        total.error_ratio if total else 0.0,
        args.slo,
    )
    return {
        "format": RESULT_FORMAT,
        "scenario": args.scenario,
        "host": args.host,
        "api_url": args.api_url,
        "replicas_urls": list(args.replicas_urls),
        "users": args.users,
        "duration_s": plan.end_s,
        "seed": args.seed,
        "links": len(plan.slugs),
        "started_at": started.isoformat(),
        "finished_at": utc_now().isoformat(),
        "slo": asdict(args.slo),
        "endpoints": [asdict(e) for e in endpoints],
        "client_cores": measured.get("client_cores"),
        # Concurrency (or replicas) against throughput: what `surge capacity --sweep` fits.
        "sweep_variable": "replicas" if len(args.replicas_urls) > 1 else "users",
        "steps": steps,
        "verdict": None if args.scenario == "sweep" else ("fail" if missed else "pass"),
        "missed": missed,
        "files": {
            name: str(args.out / name)
            for name in ("plan.json", "locust_stats.csv", "report.html", "locust.log")
        },
    }
