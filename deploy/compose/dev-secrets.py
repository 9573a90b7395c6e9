"""DEVELOPMENT secrets for compose.yaml, made at `docker compose up`, never in the repository.

The one-shot `secrets` service runs this with the Surge image's Python before anything else
starts: it writes random values into the `secrets` volume (once: later runs keep them), and the
other services read them as files (SURGE_*_FILE, POSTGRES_PASSWORD_FILE, GF_..._FILE).

    python dev-secrets.py DIRECTORY

For production, make your own secrets (Kubernetes: docs/deploy.md) and do not use these.
"""

from __future__ import annotations

import secrets
import sys
from pathlib import Path

# Random values, one file each.
RANDOM = ("internal-token", "visitor-salt-secret", "postgres-password", "grafana-admin-password")
# The database URL, with the password above; host and names as in compose.yaml.
DATABASE_URL = "postgresql+asyncpg://surge:{password}@postgres:5432/surge"
# Readable by every service's user (surge 10001, postgres 70, grafana 472): development only.
MODE = 0o444


def write(path: Path, value: str) -> None:
    path.write_text(value + "\n")
    path.chmod(MODE)


def make(directory: Path) -> list[str]:
    """Create what is missing in `directory`; the names of the files created."""
    directory.mkdir(parents=True, exist_ok=True)
    created = []
    for name in RANDOM:
        path = directory / name
        if not path.exists():
            write(path, secrets.token_hex(24))
            created.append(name)
    password = (directory / "postgres-password").read_text().strip()
    url = directory / "database-url"
    if not url.exists() or url.read_text().strip() != DATABASE_URL.format(password=password):
        if url.exists():
            url.chmod(0o644)
        write(url, DATABASE_URL.format(password=password))
        created.append("database-url")
    return created


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(f"usage: {argv[0]} DIRECTORY", file=sys.stderr)
        return 2
    created = make(Path(argv[1]))
    print(f"development secrets: created {', '.join(created)}" if created else "kept")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
