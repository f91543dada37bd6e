#!/usr/bin/env python3
"""History benchmark: what storing every chat message costs, per storage.

Usage:
    .venv/bin/python bench/history_bench.py [--storages memory,sqlite,postgres] [--rounds 2]

Our server runs with DATABASE_URL=memory:// (history off: kept in process, nothing written),
sqlite:///<temp dir>/bench.db and postgresql://postgres@127.0.0.1:5432/<throwaway database>
(created before each run, dropped after it; skipped with a note when PostgreSQL is missing).
For each storage it measures
  (a) `acked`: acked messages/s with 50 concurrent senders, each waiting for its ack before it
      sends the next (every message also reaches the other 49), and
  (b) `fanout`: run.py's fanout scenario (200 clients, 10 senders x 100 messages),
and reports each figure against memory:// as the storage's cost in %: the fan-out figures must
cost less than 10 %. Storages take turns within each round (memory, sqlite, postgres, then
again), a fresh server and database for every run, so drift on the shared machine hits all of
them alike; the table shows the median over rounds. The Node peer (no storage) runs once as a
reference. Writes one JSON line to bench/results/history-<timestamp>.json (and --out).
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import json
import sys
import time
from pathlib import Path

import databases
import run

COST_LIMIT_PCT = 10.0


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--storages", default="memory,sqlite,postgres")
    ap.add_argument("--rounds", type=int, default=2, help="runs per storage and scenario (2)")
    ap.add_argument("--duration", type=float, default=8.0, help="acked: seconds per run (8)")
    ap.add_argument("--senders", type=int, default=50, help="acked: concurrent senders (50)")
    ap.add_argument("--no-node", action="store_true", help="skip the Node reference runs")
    ap.add_argument("--pg-admin-url", default=databases.PG_ADMIN_URL)
    ap.add_argument("--python-cmd", default=".venv/bin/python app.py")
    ap.add_argument("--quiet-wait", type=float, default=15.0)
    ap.add_argument("--out", help="also append the JSON record to this file")
    ap.add_argument("-v", "--verbose", action="store_true", help="echo loadgen progress")
    args = ap.parse_args(argv)
    args.storages = [s.strip() for s in args.storages.split(",") if s.strip()]
    bad = set(args.storages) - set(databases.STORAGES)
    if bad:
        ap.error(f"unknown storage(s): {', '.join(sorted(bad))}")
    return args


def runner_args(args) -> argparse.Namespace:
    rargs = run.build_parser().parse_args(
        [
            "acked",
            "--python-cmd",
            args.python_cmd,
            "--quiet-wait",
            str(args.quiet_wait),
        ]
    )
    rargs.verbose = args.verbose
    return rargs


def scenario_args(rargs, scenario: str, args, database_url: str | None):
    """run.py options for one run: acked gets --clients/--duration, fanout keeps its defaults."""
    out = copy.copy(rargs)
    out.python_env = [f"DATABASE_URL={database_url}"] if database_url else []
    if scenario == "acked":
        out.clients, out.duration = args.senders, args.duration
    return out


def one_run(server: str, storage: str | None, scenario: str, args, rargs, tag: str) -> dict:
    """A fresh database and server, one loadgen run, everything stopped afterwards."""
    logpath = run.RESULTS / "logs" / f"history-{tag}-{storage or server}-{scenario}.log"
    with databases.database_url(storage or "memory", args.pg_admin_url) as url:
        sargs = scenario_args(rargs, scenario, args, url if server == "python" else None)
        quiet = run.wait_quiet(sargs)
        srv = None
        try:
            srv = run.Server(server, sargs, logpath)
            res = run.measure_run(scenario, srv, sargs, run.loadgen_timeout(scenario, sargs))
            res["background_before_pct"] = quiet
        except Exception as e:  # report it and carry on with the other storages
            run.log(f"{storage or server}: {scenario} failed: {e}")
            res = {"error": str(e)}
        finally:
            if srv is not None:
                srv.stop()
    res["server_log"] = str(logpath.relative_to(run.ROOT))
    time.sleep(0.5)
    return res


def measure(args, storages: list[str]) -> dict[str, dict[str, list[dict]]]:
    rargs = runner_args(args)
    tag = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    runs: dict[str, dict[str, list[dict]]] = {}
    if not args.no_node:
        runs["node"] = {sc: [one_run("node", None, sc, args, rargs, tag)] for sc in SCENARIOS}
    for _ in range(args.rounds):
        for scenario in SCENARIOS:
            for kind in storages:  # take turns, so drift on the machine hits all of them
                res = one_run("python", kind, scenario, args, rargs, tag)
                runs.setdefault(kind, {}).setdefault(scenario, []).append(res)
    return runs


SCENARIOS = ("acked", "fanout")

# (scenario, key) -> short name in the table; `cost` figures are compared against memory://.
FIGURES = [
    ("acked", "acked_per_s", "acked msg/s", True),
    ("acked", "acked_per_server_cpu_s", "acked per CPU s", True),
    ("acked", "ack_p50_ms", "ack p50 ms", False),
    ("acked", "ack_p99_ms", "ack p99 ms", False),
    ("acked", "lost", "acked lost", False),
    ("fanout", "deliveries_per_s", "fanout deliveries/s", True),
    ("fanout", "deliveries_per_server_cpu_s", "fanout per CPU s", True),
    ("fanout", "lost", "fanout lost", False),
    ("fanout", "other_cpu_pct", "others' CPU %", False),
]


def summarize(runs: dict) -> list[dict]:
    """One row per storage (and the Node reference): medians over rounds, costs vs memory://."""
    rows = []
    combined = {k: {sc: run.combine(sc, rs) for sc, rs in v.items()} for k, v in runs.items()}
    base = combined.get("memory", {})
    for kind, by_sc in combined.items():
        row = {"storage": "node (no storage)" if kind == "node" else kind}
        for sc, key, name, cost in FIGURES:
            val = by_sc.get(sc, {}).get(key)
            row[name] = val
            ref = base.get(sc, {}).get(key)
            if cost and kind not in ("memory", "node") and val is not None and ref:
                row[f"{name} cost %"] = round(100 * (1 - val / ref), 1)
        row["errors"] = [
            f"{sc}: {r['error']}" for sc, r in by_sc.items() if isinstance(r.get("error"), str)
        ]
        rows.append(row)
    return rows


COLUMNS = [
    ("storage", "storage"),
    ("acked msg/s", "acked msg/s"),
    ("acked msg/s cost %", "cost %"),
    ("ack p50 ms", "ack p50 ms"),
    ("ack p99 ms", "ack p99 ms"),
    ("acked lost", "lost"),
    ("fanout deliveries/s", "fanout deliveries/s"),
    ("fanout deliveries/s cost %", "cost %"),
    ("fanout per CPU s", "fanout per CPU s"),
    ("fanout per CPU s cost %", "cost %"),
    ("fanout lost", "lost"),
    ("others' CPU %", "others' CPU %"),
]


def verdicts(rows: list[dict]) -> list[str]:
    out = []
    for r in rows:
        if r["storage"] in ("memory", "node (no storage)"):
            continue
        costs = [r.get("fanout deliveries/s cost %"), r.get("fanout per CPU s cost %")]
        if None in costs:
            out.append(f"{r['storage']}: no fan-out figure")
            continue
        ok = [c < COST_LIMIT_PCT for c in costs]
        word = "within" if all(ok) else "OVER" if not any(ok) else "mixed against"
        out.append(
            f"{r['storage']}: fan-out cost {costs[0]} % (deliveries/s), {costs[1]} % (per "
            f"server CPU s): {word} the {COST_LIMIT_PCT:g} % limit"
        )
    return out


def main(argv=None) -> int:
    args = parse_args(argv)
    run.prepare_benchmark()
    skipped = {}
    storages = list(args.storages)
    if "postgres" in storages:
        reason = databases.pg_unavailable(args.pg_admin_url)
        if reason:
            skipped["postgres"] = reason
            storages.remove("postgres")
            run.log(f"PostgreSQL skipped: {reason}")
    t0 = time.monotonic()
    try:
        runs = measure(args, storages)
    finally:
        run.stop_all()
    rows = summarize(runs)
    record = {
        "scenario": "history",
        "timestamp": dt.datetime.now().isoformat(timespec="seconds"),
        "elapsed_s": round(time.monotonic() - t0, 1),
        "options": {k: v for k, v in vars(args).items() if v is not None},
        "skipped": skipped,
        "rows": rows,
        "runs": runs,
    }
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    for path in {run.RESULTS / f"history-{stamp}.json", *([Path(args.out)] if args.out else [])}:
        with Path(path).open("a") as f:
            f.write(json.dumps(record) + "\n")
    print(
        f"== history: {args.senders} senders waiting for acks, and fanout; "
        f"median of {args.rounds} rounds; cost % = loss against memory:// =="
    )
    print(run.grid(rows, COLUMNS))
    for kind, reason in skipped.items():
        print(f"{kind}: SKIPPED ({reason})")
    for r in rows:
        for err in r["errors"]:
            print(f"ERROR ({r['storage']}): {err[:300]}")
    for line in verdicts(rows):
        print(line)
    print(f"({record['elapsed_s']}s)")
    return 1 if any(r["errors"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
