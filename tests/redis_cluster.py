"""A Redis Cluster of the tests' own: 3 masters and a replica each, from `redis-server` on free
ports, each node in a directory of its own; `redis-cli --cluster create` joins them.

A short node timeout makes a failover take about a second or two instead of the default 15 s.
The machine's shared Redis (6379) is never part of it.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from redis import Redis, RedisCluster
from redis.exceptions import RedisError

from tests.chaos.faults import unavailable, wait_until
from tests.e2e.processes import free_port

MASTERS = 3
NODE_TIMEOUT_MS = 500


def cluster_programs() -> tuple[str, str]:
    """redis-server and redis-cli, or skip (fail with SURGE_REQUIRE_SERVICES=1)."""
    server, cli = shutil.which("redis-server"), shutil.which("redis-cli")
    if server is None or cli is None:
        unavailable(
            "redis-server and redis-cli are not installed (Debian: redis-server, redis-tools): "
            "the Redis Cluster tests start a cluster of their own"
        )
    return server, cli


def _info(port: int, command: str) -> dict[str, str]:
    """`CLUSTER INFO` or `INFO replication` of one node as a dict; empty when it is down."""
    client = Redis(port=port, socket_timeout=0.5, socket_connect_timeout=0.5)
    try:
        raw = client.execute_command(*command.split())
    except RedisError:
        return {}
    finally:
        client.close()
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    if isinstance(raw, dict):
        return {str(k): str(v) for k, v in raw.items()}
    return dict(line.split(":", 1) for line in text.splitlines() if ":" in line)


@dataclass
class Node:
    port: int
    bus_port: int  # its own: port + 10000, Redis's default, may be past 65535 or taken
    directory: Path
    process: subprocess.Popen[bytes] | None = None


@dataclass
class LocalRedisCluster:
    directory: Path
    nodes: list[Node] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"redis+cluster://127.0.0.1:{self.nodes[0].port}"

    def __enter__(self) -> LocalRedisCluster:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def start(self) -> None:
        server, cli = cluster_programs()
        for _ in range(2 * MASTERS):
            port = free_port()
            self.nodes.append(Node(port, free_port(), self.directory / str(port)))
        for node in self.nodes:
            self._run(server, node)
        addresses = [f"127.0.0.1:{node.port}" for node in self.nodes]
        subprocess.run(
            [cli, "--cluster", "create", *addresses, "--cluster-replicas", "1", "--cluster-yes"],
            check=True,
            capture_output=True,
            timeout=30,
        )
        self.wait_healthy()

    def _run(self, server: str, node: Node) -> None:
        node.directory.mkdir(parents=True, exist_ok=True)
        node.process = subprocess.Popen(
            [
                server,
                *("--port", str(node.port), "--bind", "127.0.0.1", "--dir", str(node.directory)),
                *("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"),
                *("--cluster-port", str(node.bus_port)),
                *("--cluster-node-timeout", str(NODE_TIMEOUT_MS)),
                # A replica takes over however long ago it last heard from its master.
                *("--cluster-replica-validity-factor", "0"),
                *("--appendonly", "no", "--save", ""),
                # A replica's first sync starts at once, not after Redis's default 5 s wait for
                # more replicas to share it.
                *("--repl-diskless-sync-delay", "0"),
                *("--logfile", str(node.directory / "redis.log")),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(
            lambda: bool(_info(node.port, "INFO replication")),
            timeout_s=15,
            what=f"redis-server on :{node.port}",
        )

    def healthy(self) -> bool:
        """Every running node sees all slots served, and every master has its replica in sync."""
        running = [n for n in self.nodes if n.process is not None and n.process.poll() is None]
        states = [_info(n.port, "CLUSTER INFO") for n in running]
        if not all(s.get("cluster_state") == "ok" for s in states):
            return False
        masters = [_info(n.port, "INFO replication") for n in running]
        masters = [m for m in masters if m.get("role") == "master"]
        return len(masters) == MASTERS and all(
            m.get("connected_slaves") == "1" and "online" in m.get("slave0", "") for m in masters
        )

    def wait_healthy(self, timeout_s: float = 30) -> float:
        return wait_until(self.healthy, timeout_s=timeout_s, what="the Redis Cluster to be ok")

    def master_of(self, key: str) -> Node:
        client = RedisCluster(host="127.0.0.1", port=self.nodes[0].port)
        try:
            port = client.get_node_from_key(key).port
        finally:
            client.close()
        return next(node for node in self.nodes if node.port == port)

    def fail_over(self, master: Node, timeout_s: float = 15) -> float:
        """SIGKILL `master` (no goodbye to its replica or its clients, as a machine lost), then
        wait until its replica has taken over and the other nodes serve every slot again; the
        seconds that took."""
        replica = next(
            n
            for n in self.nodes
            if _info(n.port, "INFO replication").get("master_port") == str(master.port)
        )
        assert master.process is not None
        master.process.send_signal(signal.SIGKILL)
        master.process.wait(10)
        others = [n for n in self.nodes if n is not master]

        def taken_over() -> bool:
            if _info(replica.port, "INFO replication").get("role") != "master":
                return False
            return all(_info(n.port, "CLUSTER INFO").get("cluster_state") == "ok" for n in others)

        return wait_until(
            taken_over, timeout_s=timeout_s, what=f"a replica to take over from :{master.port}"
        )

    def restart(self, node: Node) -> None:
        """Back from its own nodes.conf: it rejoins, as a replica of whoever took over."""
        server, _ = cluster_programs()
        self._run(server, node)

    def close(self) -> None:
        for node in self.nodes:
            if node.process is not None and node.process.poll() is None:
                node.process.kill()
                node.process.wait(10)
