"""Other shorteners to measure Surge against (bench/peer.py): each a preset that knows where its
checkout is, how to start it on its embedded default, how to make one short link and how to read
that link's visit count, from the peer's own API.

A preset for another shortener is a class with the same four methods as `Kutt` (`check`,
`start`, `create_link`, `visits`), added to PRESETS; docs/performance.md ("Side by side with
another shortener") says what to check. Nothing here installs a peer: a missing checkout is a
one-line BenchError that says what to run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import httpx

from .budget import BenchError
from .processes import HOST, Server, start_server

REPO = Path(__file__).resolve().parents[2]
# Outside the repository, next to the checkout: a peer is not part of Surge's tree.
PEERS_DIR = REPO.parent / "peers"
VERSION_FILE = ".surge-peer-version"  # written by the setup script: the tag and commit
TIMEOUT_S = 10.0


@dataclass
class PeerLink:
    url: str  # the short link, as wrk requests it
    location: str  # where it must redirect
    key: str  # the peer's API key, to read the visit count


class PeerPreset(Protocol):
    name: str
    label: str  # as the tables show it, e.g. "Kutt"

    def check(self, directory: Path) -> str:
        """The version found in `directory`, or a BenchError saying in one line what to do."""

    def start(self, directory: Path, port: int, tmp: Path) -> Server:
        """Start it on `port` (127.0.0.1) on a throwaway database in `tmp`; ready or not."""

    def create_link(self, server: Server, slug: str, target: str) -> PeerLink:
        """One short link, made as a user would: through its API, with an API key."""

    def visits(self, server: Server, link: PeerLink) -> int:
        """The link's visit count as the peer reports it."""


def read_version(directory: Path, fallback: str) -> str:
    found = directory / VERSION_FILE
    return found.read_text().strip() if found.is_file() else fallback


class Kutt:
    """Kutt v3 (github.com/thedevs-network/kutt), Node and Express, on its documented default:
    better-sqlite3 in one file, no Redis (visits are then written in-process, from the request
    handler, without waiting), rate limits off (ENABLE_RATE_LIMIT's default). Its .example.env
    and server/env.js give those defaults; they are also set here so that a .env left in the
    checkout (dotenv never overrides the environment) cannot change what is measured."""

    name = "kutt"
    label = "Kutt"
    tag = "v3.2.3"
    setup = "bench/peers/kutt-setup.sh"

    def check(self, directory: Path) -> str:
        needed = [directory / "server" / "server.js", directory / "node_modules" / "knex"]
        if not all(path.exists() for path in needed):
            raise BenchError(
                f"no Kutt checkout with its modules in {directory}: run `{self.setup} "
                f"{directory}` (Kutt {self.tag} and `npm ci --omit=dev`), or pass --peer-dir"
            )
        if shutil.which("node") is None:
            raise BenchError("node is not on PATH: Kutt needs Node.js 20 or newer")
        return read_version(directory, f"{self.tag}? (no {VERSION_FILE})")

    def environment(self, port: int, tmp: Path) -> dict[str, str]:
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "NODE_ENV": "production",  # as its Dockerfile and `npm start`
            "PORT": str(port),
            # The Host wrk sends: any other host is looked up as a custom domain per request.
            "DEFAULT_DOMAIN": f"{HOST}:{port}",
            "JWT_SECRET": "surge-bench-peer-secret",  # required, no default
            "DB_CLIENT": "better-sqlite3",
            "DB_FILENAME": str(tmp / "kutt.sqlite"),
            "REDIS_ENABLED": "false",
            "ENABLE_RATE_LIMIT": "false",
            "MAIL_ENABLED": "false",
        }

    def start(self, directory: Path, port: int, tmp: Path) -> Server:
        env = self.environment(port, tmp)
        # Its image runs `npm run migrate && npm start`; the same two, without npm in between.
        migrate = ["node", str(directory / "node_modules" / ".bin" / "knex"), "migrate:latest"]
        _run(migrate, env, directory, "Kutt's migrations")
        argv = ["node", "server/server.js", "--production"]
        return start_server(
            self.name, port, argv, env, tmp, cwd=directory, health_path="/api/v2/health"
        )

    def create_link(self, server: Server, slug: str, target: str) -> PeerLink:
        account = {"email": "bench@example.com", "password": "surge-bench-password"}
        with httpx.Client(base_url=server.url, timeout=TIMEOUT_S) as client:
            client.headers["accept"] = "application/json"
            _ok(client.post("/api/auth/create-admin", json=account), "creating Kutt's admin")
            # create-admin's token carries no user id (Kutt reads the row back only at login),
            # so it is refused where a user is needed: log in for one that is not.
            login = _ok(client.post("/api/auth/login", json=account), "logging in to Kutt")
            client.cookies.set("token", login.json()["token"])
            key = _ok(client.post("/api/auth/apikey"), "making a Kutt API key").json()["apikey"]
            client.cookies.clear()
            link = {"target": target, "customurl": slug}
            made = client.post("/api/v2/links", json=link, headers={"x-api-key": key})
            _ok(made, "creating the Kutt link")
        return PeerLink(f"{server.url}/{slug}", target, key)

    def visits(self, server: Server, link: PeerLink) -> int:
        slug = link.url.rsplit("/", 1)[1]
        response = httpx.get(
            f"{server.url}/api/v2/links",
            headers={"x-api-key": link.key, "accept": "application/json"},
            timeout=TIMEOUT_S,
        )
        for row in _ok(response, "reading Kutt's links").json()["data"]:
            if row["address"] == slug:
                return int(row["visit_count"])
        raise BenchError(f"Kutt does not list the link {slug!r}")


PRESETS: dict[str, PeerPreset] = {"kutt": Kutt()}


def _ok(response: httpx.Response, what: str) -> httpx.Response:
    if response.status_code >= 300:
        raise BenchError(f"{what} failed: {response.status_code} {response.text[:200]}")
    return response


def _run(argv: list[str], env: dict[str, str], cwd: Path, what: str) -> None:
    try:
        done = subprocess.run(
            argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"{what} timed out") from exc
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines() or ["(no output)"]
        raise BenchError(f"{what} failed: {lines[-1]}")
