"""Hold throughput and latency against the real web server, next to a trivial JSON endpoint as baseline.

Usage: ``.venv/bin/python bench/holds.py [--seconds 5] [--warmup 1] [--levels 1,8,32] [--rounds 3] [--volume]``

Starts its own database and gunicorn (the Procfile's configuration), seeds reserved events of 20,000 seats and
a user with a token per seat, then, for each concurrency level, drives ``GET /health`` (baseline) and
``POST /api/v1/events/{id}/holds`` (one free seat per request, so every hold should win) from client processes
over keep-alive connections. A level runs ``--rounds`` pairs of phases, baseline then holds, because a shared
2-core machine drifts by tens of percent within minutes: each pair's ratio compares phases a few seconds apart,
and the table shows the median of each figure over the rounds with the range of the ratio. Audits PostgreSQL
afterwards: every 201 is one hold, no seat is held twice.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import platform
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.stack import bench_stack, make_users, percentile

SEATS = 20_000


def _client_process(
    port: int, jobs: list[tuple[str, str, dict[str, str]]], threads: int, warmup: float, seconds: float, out
) -> None:
    """Run ``jobs`` (method, path+body, headers) on ``threads`` keep-alive connections until time is up,
    keeping the figures of the requests started after the first ``warmup`` seconds."""
    results: list[tuple[int, float]] = []
    lock = threading.Lock()
    slices = [jobs[i::threads] for i in range(threads)]
    ran_out = threading.Event()
    measure_from = time.perf_counter() + warmup
    deadline = measure_from + seconds

    def worker(my_jobs):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        local = []
        for method, path, body, headers in my_jobs:
            if time.perf_counter() >= deadline:
                break
            start = time.perf_counter()
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            if start >= measure_from:
                local.append((response.status, time.perf_counter() - start))
        conn.close()
        if time.perf_counter() < deadline:  # out of jobs early: requests/s over the window would be too low
            ran_out.set()
        with lock:
            results.extend(local)

    pool = [threading.Thread(target=worker, args=(s,)) for s in slices]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    out.put((results, ran_out.is_set()))


def drive(port: int, jobs: list, concurrency: int, warmup: float, seconds: float) -> dict:
    """Split ``jobs`` over client processes (at most 4, threads inside) and collect (status, latency)."""
    processes = min(concurrency, 4)
    per_process = [concurrency // processes + (1 if i < concurrency % processes else 0) for i in range(processes)]
    out: mp.Queue = mp.Queue()
    chunks, start = [], 0
    for threads in per_process:
        share = len(jobs) * threads // concurrency
        chunks.append(jobs[start : start + share])
        start += share
    procs = [
        mp.Process(target=_client_process, args=(port, chunk, threads, warmup, seconds, out))
        for chunk, threads in zip(chunks, per_process, strict=True)
    ]
    for p in procs:
        p.start()
    outcomes = [out.get() for _ in procs]
    if any(ran_out for _, ran_out in outcomes):
        raise SystemExit("a client ran out of jobs before the end of the phase: give the phase a larger budget")
    results = [r for rs, _ in outcomes for r in rs]
    for p in procs:
        p.join()
    latencies = [lat * 1000 for _, lat in results]
    statuses: dict[int, int] = {}
    for status, _ in results:
        statuses[status] = statuses.get(status, 0) + 1
    return {
        "requests": len(results),
        "rps": len(results) / seconds,
        "p50": percentile(latencies, 50),
        "p99": percentile(latencies, 99),
        "statuses": statuses,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--levels", default="1,8,32")
    parser.add_argument("--rounds", type=int, default=3, help="baseline/hold pairs per level; medians are shown")
    parser.add_argument(
        "--warmup", type=float, default=1.0, help="seconds run before measuring each phase (pool, threads, caches)"
    )
    parser.add_argument(
        "--server",
        choices=["threading", "gevent"],
        default="threading",
        help="gevent needs `python3 -m pip install --target .state/gevent-lib gevent psycogreen` first",
    )
    parser.add_argument("--volume", action="store_true", help="start from a copy of atomicseats_volume (history)")
    args = parser.parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    extra_env, extra_args = {}, None
    if args.server == "gevent":
        lib = Path(__file__).resolve().parent.parent / ".state" / "gevent-lib"
        extra_env = {"PYTHONPATH": f"{lib}:{lib.parent.parent}"}
        extra_args = [
            "-k",
            "gevent",
            "--worker-connections",
            "1000",
            "-c",
            str(Path(__file__).with_name("gevent_conf.py")),
        ]

    with (
        tempfile.TemporaryDirectory() as tmp,
        bench_stack(Path(tmp), extra_env=extra_env, extra_args=extra_args, volume=args.volume) as stack,
    ):
        port = int(stack.url.rsplit(":", 1)[1])
        conn = stack.connect()
        ((_, host_token),) = make_users(conn, 1, role="host")
        buyers = make_users(conn, SEATS)
        conn.close()
        seats = _SeatSupply(port, host_token, buyers)

        rows = []
        for level in levels:
            rounds = []
            for _ in range(args.rounds):
                health = [("GET", "/health", None, {})] * 200_000
                baseline = drive(port, health, level, args.warmup, args.seconds)
                holds = drive(port, seats.take(4000 if level > 1 else 2500), level, args.warmup, args.seconds)
                rounds.append((baseline, holds))
            rows.append((level, rounds))

        audits = [_audit(stack, event_id) for event_id in seats.events]

    print(f"\nAtomicSeats hold benchmark — {platform.node()}, {mp.cpu_count()} cores, {time.strftime('%Y-%m-%d')}")
    server = "gthread -w 1 --threads 100 (as in the Procfile)" if args.server == "threading" else "gevent -w 1"
    database = "volume database (history)" if args.volume else "empty database"
    print(f"gunicorn -k {server}; clients: keep-alive, separate processes; {database}")
    print(f"medians over {args.rounds} rounds of {args.seconds:g} s per phase; hold/baseline: median (min-max)\n")
    print(
        f"{'clients':>7} | {'/health req/s':>13} {'p50 ms':>7} {'p99 ms':>7} | {'hold req/s':>10} "
        f"{'p50 ms':>7} {'p99 ms':>7} | {'hold/baseline':>17} | statuses"
    )
    for level, rounds in rows:
        base = {k: statistics.median(b[k] for b, _ in rounds) for k in ("rps", "p50", "p99")}
        hold = {k: statistics.median(h[k] for _, h in rounds) for k in ("rps", "p50", "p99")}
        ratios = [h["rps"] / b["rps"] for b, h in rounds]
        statuses: dict[int, int] = {}
        for _, h in rounds:
            for status, n in h["statuses"].items():
                statuses[status] = statuses.get(status, 0) + n
        spread = f"{statistics.median(ratios):.0%} ({min(ratios):.0%}-{max(ratios):.0%})"
        print(
            f"{level:>7} | {base['rps']:>13.0f} {base['p50']:>7.1f} {base['p99']:>7.1f} | {hold['rps']:>10.0f} "
            f"{hold['p50']:>7.1f} {hold['p99']:>7.1f} | {spread:>17} | {statuses}"
        )
    ok = all(a["ok"] for a in audits)
    print(f"\naudit: {dict(ok=ok, events=audits)}")
    if not ok:
        sys.exit(1)


class _SeatSupply:
    """Hold requests for free seats, one seat and one buyer each; a new 20,000-seat event when one runs out.

    A buyer may hold once per event, so buyer ``i`` takes seat ``i`` of every event.
    """

    def __init__(self, port: int, host_token: str, buyers: list[tuple[int, str]]):
        self.port, self.host_token, self.buyers = port, host_token, buyers
        self.events: list[int] = []
        self._seat_ids: list[int] = []
        self._next = 0

    def take(self, count: int) -> list:
        jobs = []
        while len(jobs) < count:
            if self._next == len(self._seat_ids):
                self.events.append(_make_event(self.port, self.host_token))
                self._seat_ids, self._next = _seat_ids(self.port, self.events[-1]), 0
            i = self._next
            jobs.append(
                (
                    "POST",
                    f"/api/v1/events/{self.events[-1]}/holds",
                    json.dumps({"seat_ids": [self._seat_ids[i]]}),
                    {"Authorization": f"Bearer {self.buyers[i][1]}", "Content-Type": "application/json"},
                )
            )
            self._next += 1
        return jobs


def _make_event(port: int, token: str) -> int:
    from datetime import UTC, datetime, timedelta

    starts = datetime.now(UTC) + timedelta(days=7)
    body = {
        "name": "Benchmark arena",
        "venue": "Bench",
        "seating": "reserved",
        "max_per_order": 8,
        "starts_at": starts.isoformat(),
        "ends_at": (starts + timedelta(hours=3)).isoformat(),
        "sections": [
            {
                "name": f"Block {b}",
                "price_cents": 5000 - b * 500,
                "rows": [{"label": f"{b}R{r}", "seats": 500} for r in range(10)],
            }
            for b in range(4)
        ],
    }
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("POST", "/api/v1/events", body=json.dumps(body), headers=headers)
    created = json.loads(conn.getresponse().read())
    conn.request("POST", f"/api/v1/events/{created['id']}/publish", headers=headers)
    conn.getresponse().read()
    conn.close()
    return created["id"]


def _seat_ids(port: int, event_id: int) -> list[int]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("GET", f"/api/v1/events/{event_id}/seats")
    items = json.loads(conn.getresponse().read())["items"]
    conn.close()
    return [s["id"] for s in items]


def _audit(stack, event_id: int) -> dict:
    conn = stack.connect()
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM holds WHERE event_id = %s", (event_id,))
        holds = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM (SELECT seat_id FROM hold_seats GROUP BY seat_id HAVING count(*) > 1) d")
        doubled = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM seats WHERE event_id = %s AND hold_id IS NOT NULL", (event_id,))
        held_seats = cur.fetchone()[0]
    conn.close()
    return {
        "holds": holds,
        "held_seats": held_seats,
        "seats_held_twice": doubled,
        "ok": doubled == 0 and held_seats == holds,
    }


if __name__ == "__main__":
    main()
