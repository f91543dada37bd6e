"""Fan-out across 1, 2 and 4 nodes: one chat spread over several server processes on Redis.

    .venv/bin/python bench/cluster_fanout.py                # 1 (no Redis), 1, 2, 4 nodes
    .venv/bin/python bench/cluster_fanout.py --nodes 2,4 --clients 400 --repeat 3
    .venv/bin/python bench/cluster_fanout.py --scenario games --nodes 1,2   # games instead

`--scenario games` runs `bench/loadgen.js games` (100 players, best of 3, 10 s) instead: players
on different nodes are matched through Redis, and each game holds only its own lock. The time
operations waited for a game's lock and for the lobby lock (pairing), per operation, comes from
each node's /metrics (`rpschat_lock_wait_seconds`).

For each node count: start the nodes (`python app.py`, REDIS_URL with a fresh REDIS_PREFIX,
DATABASE_URL=memory:// unless --database-url), nginx in front of them, and run
`bench/loadgen.js fanout` (see bench/README.md) against nginx: every client is connected and
named, then S senders send M messages each and every client must receive every other sender's
messages. nginx balances round robin here, not with the deployment's ip_hash: the loadgen's
clients are WebSocket-only (one request each, so they need no stickiness), and ip_hash would put
every client of 127.0.0.1 on one node. The baseline row `1*` is one node without Redis, as
bench/run.py runs it (but behind nginx too).

Measured per run: deliveries/s, first send -> last delivery, lost deliveries, CPU seconds of the
nodes (all together), of nginx and of Redis (its INFO; the whole Redis server), the most clients
each node held, and the machine's other CPU use. Results go to stdout as a table and, as one JSON
line, to bench/results/cluster-fanout-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import psutil
import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from deploy.cluster import Nginx, Node  # noqa: E402

LOADGEN = ROOT / "bench" / "loadgen.js"
RESULTS = ROOT / "bench" / "results"


def node_env(args, redis_on: bool, prefix: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PORT", "HOST", "REDIS_URL")}
    env.update(
        SECRET_KEY="bench",
        DATABASE_URL=args.database_url,
        RATE_LIMIT="0",
        MAX_CONNECTIONS_PER_IP="0",
        UNNAMED_IDLE_SECONDS="3600",
        LOG_LEVEL="WARNING",
        TRUST_PROXY="true",
    )
    if redis_on:
        env.update(REDIS_URL=args.redis_url, REDIS_PREFIX=prefix)
    return env


def cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            times = psutil.Process(pid).cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            pass
    return total


def process_tree(pid: int) -> list[int]:
    try:
        return [pid] + [child.pid for child in psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def redis_cpu(client: redis.Redis | None) -> float:
    if client is None:
        return 0.0
    info = client.info("cpu")
    return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])


def machine_busy_seconds() -> float:
    times = psutil.cpu_times()
    return times.user + times.system + getattr(times, "nice", 0.0)


class ClientCounter:
    """The most established connections each node held, sampled while the loadgen runs."""

    def __init__(self, nodes: list[Node]):
        self.nodes = nodes
        self.peak = [0] * len(nodes)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            for i, node in enumerate(self.nodes):
                try:
                    conns = psutil.Process(node.process.pid).net_connections(kind="tcp")
                except psutil.Error:
                    continue
                count = sum(
                    1 for c in conns if c.status == "ESTABLISHED" and c.laddr.port == node.port
                )
                self.peak[i] = max(self.peak[i], count)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=5)


def lock_waits(nodes: list[Node]) -> dict[str, tuple[float, float]]:
    """(seconds waited, operations) per kind of game lock, summed over the nodes' /metrics."""
    totals: dict[str, list[float]] = {}
    for node in nodes:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{node.port}/metrics", timeout=5) as r:
                text = r.read().decode()
        except OSError:
            continue
        for line in text.splitlines():
            for suffix, index in (("_sum", 0), ("_count", 1)):
                head = f'rpschat_lock_wait_seconds{suffix}{{lock="'
                if line.startswith(head):
                    kind = line[len(head) :].split('"', 1)[0]
                    totals.setdefault(kind, [0.0, 0.0])[index] += float(line.rsplit(" ", 1)[1])
    return {kind: (waited, ops) for kind, (waited, ops) in totals.items()}


def wait_per_op_ms(before: dict, after: dict, kind: str) -> float | None:
    waited = after.get(kind, (0.0, 0.0))[0] - before.get(kind, (0.0, 0.0))[0]
    ops = after.get(kind, (0.0, 0.0))[1] - before.get(kind, (0.0, 0.0))[1]
    return round(1000 * waited / ops, 3) if ops else None


def run_loadgen(url: str, args) -> dict:
    command = ["node", str(LOADGEN), args.scenario, "--url", url]
    if args.scenario == "games":
        command += ["--players", str(args.players), "--best-of", "3"]
        command += ["--duration", str(args.duration), "--timeout", str(args.timeout)]
    else:
        command += ["--clients", str(args.clients), "--senders", str(args.senders)]
        command += ["--messages", str(args.messages), "--timeout", str(args.timeout)]
    proc = subprocess.run(
        command, capture_output=True, text=True, timeout=args.timeout + 30, cwd=ROOT / "bench"
    )
    for line in reversed(proc.stdout.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    return {"error": f"loadgen exited {proc.returncode}: {proc.stderr[-800:]}"}


def one_run(count: int, redis_on: bool, args) -> dict:
    prefix = f"rpschat-bench-{secrets.token_hex(4)}"
    run_dir = Path(tempfile.mkdtemp(prefix="rpschat-fanout-"))
    env = node_env(args, redis_on, prefix)
    nodes = [Node(env, run_dir) for _ in range(count)]
    nginx = None
    client = redis.Redis.from_url(args.redis_url) if redis_on else None
    try:
        for node in nodes:
            node.start()
        nginx = Nginx([n.port for n in nodes], run_dir, sticky=False).start()
        time.sleep(1.0)  # let startup work settle
        node_pids = [p for n in nodes for p in process_tree(n.process.pid)]
        nginx_pids = process_tree(nginx.process.pid)
        before = (cpu_seconds(node_pids), cpu_seconds(nginx_pids), redis_cpu(client))
        waits_before = lock_waits(nodes)
        busy0, wall0 = machine_busy_seconds(), time.monotonic()
        with ClientCounter(nodes) as counter:
            result = run_loadgen(nginx.url, args)
        after = (cpu_seconds(node_pids), cpu_seconds(nginx_pids), redis_cpu(client))
        busy, wall = machine_busy_seconds() - busy0, time.monotonic() - wall0
        waits = lock_waits(nodes)
        ours = sum(a - b for a, b in zip(after, before, strict=True))
        ours += result.get("loadgen_cpu_s") or 0
        result.update(
            nodes=count,
            redis=redis_on,
            nodes_cpu_s=round(after[0] - before[0], 2),
            nginx_cpu_s=round(after[1] - before[1], 2),
            redis_cpu_s=round(after[2] - before[2], 2),
            clients_per_node=counter.peak,
            game_lock_wait_ms=wait_per_op_ms(waits_before, waits, "game"),
            lobby_lock_wait_ms=wait_per_op_ms(waits_before, waits, "lobby"),
            other_cpu_pct=round(100 * max(0.0, busy - ours) / wall, 1),
            logs=str(run_dir),
        )
        return result
    finally:
        if nginx is not None:
            nginx.stop()
        for node in nodes:
            node.stop()
        if client is not None:
            doomed = list(client.scan_iter(match=f"{prefix}:*", count=1000))
            if doomed:
                client.delete(*doomed)


def median_run(runs: list[dict]) -> dict:
    key = "matches_per_s" if any("matches_per_s" in r for r in runs) else "deliveries_per_s"
    ok = [r for r in runs if key in r] or runs
    ok.sort(key=lambda r: r.get(key) or 0)
    chosen = dict(ok[len(ok) // 2])
    chosen["lost"] = sum(r.get("lost", 0) or 0 for r in runs)
    chosen["runs"] = len(runs)
    return chosen


COLUMNS = [
    ("nodes", "nodes"),
    ("deliveries_per_s", "deliveries/s"),
    ("duration_s", "send->last, s"),
    ("lost", "lost"),
    ("nodes_cpu_s", "nodes CPU s"),
    ("nginx_cpu_s", "nginx CPU s"),
    ("redis_cpu_s", "Redis CPU s"),
    ("loadgen_cpu_s", "loadgen CPU s"),
    ("clients_per_node", "clients per node"),
    ("other_cpu_pct", "other CPU %"),
]


GAME_COLUMNS = [
    ("nodes", "nodes"),
    ("matches_per_s", "matches/s"),
    ("match_p50_ms", "match p50, ms"),
    ("match_p99_ms", "match p99, ms"),
    ("error_count", "refused acks"),
    ("game_lock_wait_ms", "game lock wait, ms/op"),
    ("lobby_lock_wait_ms", "lobby lock wait, ms/op"),
    ("nodes_cpu_s", "nodes CPU s"),
    ("nginx_cpu_s", "nginx CPU s"),
    ("redis_cpu_s", "Redis CPU s"),
    ("loadgen_cpu_s", "loadgen CPU s"),
    ("clients_per_node", "clients per node"),
    ("other_cpu_pct", "other CPU %"),
]


def print_table(rows: list[dict], columns: list[tuple[str, str]] = COLUMNS) -> None:
    cells = [[title for _, title in columns]]
    for row in rows:
        label = f"{row['nodes']}{'' if row['redis'] else '*'}"
        values = [label] + [str(row.get(key, "")) for key, _ in columns[1:]]
        cells.append(values)
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    for line in cells:
        print("  ".join(v.rjust(w) for v, w in zip(line, widths, strict=True)))
    print("* one node without Redis (no message queue)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", choices=("fanout", "games"), default="fanout")
    parser.add_argument("--nodes", default="1,2,4", help="node counts, comma-separated")
    parser.add_argument("--no-baseline", action="store_true", help="skip 1 node without Redis")
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--senders", type=int, default=10)
    parser.add_argument("--messages", type=int, default=100)
    parser.add_argument("--players", type=int, default=100, help="games: players")
    parser.add_argument("--duration", type=int, default=10, help="games: seconds")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--timeout", type=int, default=100, help="seconds per loadgen run")
    parser.add_argument(
        "--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    )
    parser.add_argument("--database-url", default="memory://")
    parser.add_argument("--out", help="also append the JSON record to this file (bench/report.py)")
    args = parser.parse_args()
    if not (ROOT / "bench" / "node_modules" / "socket.io-client").exists():
        sys.exit("bench/node_modules is missing: run `cd bench && npm ci` first")
    plan = [] if args.no_baseline else [(1, False)]
    plan += [(int(n), True) for n in args.nodes.split(",")]
    rows = []
    for count, redis_on in plan:
        runs = []
        for attempt in range(args.repeat):
            print(f"... {count} node(s){'' if redis_on else ' without Redis'}, run {attempt + 1}")
            runs.append(one_run(count, redis_on, args))
        rows.append(median_run(runs) | {"all_runs": runs})
    print_table(rows, GAME_COLUMNS if args.scenario == "games" else COLUMNS)
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"cluster-{args.scenario}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    record = {
        "kind": f"cluster-{args.scenario}",
        "timestamp": time.strftime("%Y-%m-%d %H:%M:%S"),
        "options": vars(args),
        "cpus": os.cpu_count(),
        "rows": rows,
    }
    path.write_text(json.dumps(record) + "\n")
    if args.out:
        with open(args.out, "a") as out:
            out.write(json.dumps(record) + "\n")
    print(f"saved {path}")


if __name__ == "__main__":
    main()
