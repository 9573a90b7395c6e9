"""A clickhouse-server of one's own: a data directory, HTTP on a port of one's choosing, nothing
else. The tests (tests/clickhouse.py) and bench/clickhouse.py start theirs with `server_argv`;
run as a script it serves one in the foreground for trying SURGE_CLICKHOUSE_URL by hand:

    python tools/clickhouse_server.py /tmp/ch 8123   # then SURGE_CLICKHOUSE_URL=http://default@127.0.0.1:8123/surge
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

SEARCH = ("/usr/sbin/clickhouse-server", "/usr/bin/clickhouse-server")
CONFIG = """<?xml version="1.0"?>
<yandex>
    <logger><level>warning</level><log>{dir}/server.log</log><errorlog>{dir}/error.log</errorlog>
    </logger>
    <http_port>{port}</http_port>
    <listen_host>127.0.0.1</listen_host>
    <path>{dir}/data/</path>
    <tmp_path>{dir}/tmp/</tmp_path>
    <users_config>users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <mark_cache_size>536870912</mark_cache_size>
</yandex>
"""
# One user, `default`, without a password, from this machine only.
USERS = """<?xml version="1.0"?>
<yandex>
    <profiles><default></default></profiles>
    <users><default><password></password><networks><ip>127.0.0.1</ip></networks>
    <profile>default</profile><quota>default</quota></default></users>
    <quotas><default></default></quotas>
</yandex>
"""


def find_program() -> str | None:
    """Debian's package puts the server in /usr/sbin, off a user's PATH."""
    found = shutil.which("clickhouse-server")
    return found or next((p for p in SEARCH if os.access(p, os.X_OK)), None)


def server_argv(program: str, directory: Path, port: int) -> list[str]:
    """Write the server's config into `directory` (its data goes there too); its command."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.xml").write_text(CONFIG.format(dir=directory, port=port))
    (directory / "users.xml").write_text(USERS)
    return [program, f"--config-file={directory}/config.xml"]


if __name__ == "__main__":
    program = find_program()
    if program is None:
        sys.exit("clickhouse-server is not installed (apt-get install clickhouse-server)")
    directory, port = Path(sys.argv[1]).resolve(), int(sys.argv[2])
    os.execv(program, server_argv(program, directory, port))
