"""Checkout end to end (202 -> confirmed) next to the hold path, at 8 and 32 concurrent buyers.

Usage:
  .venv/bin/python bench/checkout.py [--seconds 10] [--levels 8,32] [--workers 2] [--volume]

Starts a complete throwaway stack the way the Procfile runs it: its own database, Redis prefix, Tansu
broker, SMTP sink, gunicorn, the dispatcher (with the outbox relay), RQ workers and the scheduler. Then,
per level, N buyer threads each loop "hold one seat -> POST /bookings (202) -> poll GET /bookings/{id}
until final" on keep-alive connections, and a hold-only phase of N threads loops "hold -> release" on
another event. Prints p50/p99 of 202->confirmed (client-side, polling from 50 ms backing off to 250 ms; server-side from
bookings.created_at -> confirmed_at), confirmed bookings/s, hold latency and holds/s, and their ratios.
Afterwards it audits PostgreSQL: every 202 is exactly one booking, every booking is confirmed, no seat
is booked twice, every confirmed booking holds exactly its seats. It prints figures; it asserts nothing
about speed.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.stack import FLASK, bench_stack, make_users, percentile
from tests.services import VENV_BIN, KafkaBroker, Process, free_port, port_open, wait_for

CARD = "4242424242424242"
ROWS, PER_ROW = 100, 100  # 10,000 seats per event


class Client:
    def __init__(self, port: int, token: str):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict | None, float]:
        start = time.perf_counter()
        self.conn.request(
            method, "/api/v1" + path, body=json.dumps(body) if body is not None else None, headers=self.headers
        )
        response = self.conn.getresponse()
        raw = response.read()
        elapsed = time.perf_counter() - start
        return response.status, (json.loads(raw) if raw else None), elapsed


def create_event(port: int, host_token: str, name: str) -> tuple[int, list[int]]:
    client = Client(port, host_token)
    starts = time.strftime("%Y-%m-%dT19:00:00+00:00", time.gmtime(time.time() + 30 * 86400))
    ends = time.strftime("%Y-%m-%dT22:00:00+00:00", time.gmtime(time.time() + 30 * 86400))
    rows = [{"label": f"R{i}", "seats": PER_ROW} for i in range(ROWS)]
    status, event, _ = client.call(
        "POST",
        "/events",
        {
            "name": name,
            "venue": "Bench Hall",
            "starts_at": starts,
            "ends_at": ends,
            "seating": "reserved",
            "max_per_order": 8,
            "sections": [{"name": "Stalls", "price_cents": 5000, "rows": rows}],
        },
    )
    assert status == 201, event
    status, body, _ = client.call("POST", f"/events/{event['id']}/publish")
    assert status == 200, body
    status, seats, _ = client.call("GET", f"/events/{event['id']}/seats")
    return event["id"], [s["id"] for s in seats["items"]]


def checkout_phase(port: int, tokens: list[str], event_id: int, seats: list[int], seconds: float) -> dict:
    """Each buyer: hold a seat, check out, poll until final; repeat until time is up."""
    lock = threading.Lock()
    next_seat = iter(seats)
    results = {"e2e": [], "hold": [], "accept": [], "ids": [], "final": {}, "errors": 0}
    deadline = time.perf_counter() + seconds

    def buyer(token: str) -> None:
        client = Client(port, token)
        while time.perf_counter() < deadline:
            with lock:
                seat = next(next_seat)
            status, held, hold_s = client.call("POST", f"/events/{event_id}/holds", {"seat_ids": [seat]})
            if status != 201:
                with lock:
                    results["errors"] += 1
                continue
            status, booking, accept_s = client.call(
                "POST", "/bookings", {"hold_id": held["id"], "payment": {"card_number": CARD}}
            )
            accepted_at = time.perf_counter()
            if status != 202:
                with lock:
                    results["errors"] += 1
                continue
            with lock:
                results["ids"].append(booking["id"])
            pause = 0.05
            while True:
                status, body, _ = client.call("GET", f"/bookings/{booking['id']}")
                if body["status"] != "pending":
                    break
                time.sleep(pause)  # a polling client's interval (50 ms, backing off to 250 ms), not synchronisation
                pause = min(pause * 1.5, 0.25)
            with lock:
                results["final"][booking["id"]] = body["status"]
                results["hold"].append(hold_s)
                results["accept"].append(accept_s)
                if body["status"] == "confirmed":
                    results["e2e"].append(time.perf_counter() - accepted_at)

    started = time.perf_counter()
    threads = [threading.Thread(target=buyer, args=(t,)) for t in tokens]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    results["wall"] = time.perf_counter() - started
    return results


def hold_phase(port: int, tokens: list[str], event_id: int, seats: list[int], seconds: float) -> dict:
    """Each client: hold a seat and release it again; the synchronous path on its own."""
    lock = threading.Lock()
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    def holder(i: int, token: str) -> None:
        client = Client(port, token)
        mine = seats[i :: len(tokens)]
        n = 0
        while time.perf_counter() < deadline:
            status, held, elapsed = client.call(
                "POST", f"/events/{event_id}/holds", {"seat_ids": [mine[n % len(mine)]]}
            )
            n += 1
            if status == 201:
                with lock:
                    latencies.append(elapsed)
                client.call("DELETE", f"/holds/{held['id']}")

    started = time.perf_counter()
    threads = [threading.Thread(target=holder, args=(i, t)) for i, t in enumerate(tokens)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"hold": latencies, "wall": time.perf_counter() - started}


def audit(conn, event_id: int, accepted: list[str]) -> dict:
    with conn.cursor() as cur:
        cur.execute("SELECT id::text, status, quantity FROM bookings WHERE event_id = %s", (event_id,))
        rows = cur.fetchall()
        cur.execute(
            "SELECT count(*) FROM (SELECT seat_id FROM booking_seats bs JOIN bookings b ON b.id = bs.booking_id "
            "WHERE b.event_id = %s AND bs.active GROUP BY seat_id HAVING count(*) > 1) d",
            (event_id,),
        )
        doubled_seats = cur.fetchone()[0]
        cur.execute(
            "SELECT count(*) FROM bookings b WHERE b.event_id = %s AND b.status = 'confirmed' AND b.quantity <> "
            "(SELECT count(*) FROM seats s WHERE s.booking_id = b.id)",
            (event_id,),
        )
        wrong_seats = cur.fetchone()[0]
        cur.execute(
            "SELECT extract(epoch FROM confirmed_at - created_at) FROM bookings "
            "WHERE event_id = %s AND status = 'confirmed'",
            (event_id,),
        )
        server = [float(r[0]) for r in cur.fetchall()]
    conn.commit()
    ids = {r[0] for r in rows}
    return {
        "lost": len(set(accepted) - ids),
        "extra": len(ids - set(accepted)),
        "not_confirmed": sum(1 for r in rows if r[1] != "confirmed"),
        "doubled_seats": doubled_seats,
        "wrong_seats": wrong_seats,
        "server_e2e": server,
    }


def ms(values: list[float], q: float) -> str:
    return f"{percentile(values, q) * 1000:7.1f}" if values else "    n/a"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--levels", default="8,32")
    parser.add_argument("--workers", type=int, default=2, help="RQ worker processes")
    parser.add_argument("--volume", action="store_true", help="start from a copy of atomicseats_volume (history)")
    args = parser.parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    log_dir = Path(tempfile.mkdtemp(prefix="atomicseats-bench-checkout-"))
    kafka = KafkaBroker(log_dir / "kafka")
    kafka.start()
    smtp_port = free_port()
    processes: list[Process] = []
    try:
        smtp = Process(
            "smtp",
            [sys.executable, "-m", "atomicseats.smtp_sink", "--port", str(smtp_port), "--dir", str(log_dir / "mail")],
            dict(os.environ),
            log_dir,
        ).start()
        processes.append(smtp)
        wait_for(lambda: port_open(smtp_port), 15, "the SMTP sink")
        extra = {
            "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap,
            "KAFKA_CONSUMER_GROUP": f"bench-{kafka.port}",
            "MAIL_PORT": str(smtp_port),
            "RATELIMIT_ENABLED": "false",
        }
        with bench_stack(log_dir, extra_env=extra, volume=args.volume) as stack:
            env = stack.env
            prefix = env["REDIS_PREFIX"]
            flask = [*FLASK, "pipeline"]
            processes.append(Process("dispatcher", [*flask, "dispatcher"], env, log_dir).start())
            processes.append(Process("scheduler", [*flask, "scheduler"], env, log_dir).start())
            for i in range(args.workers):
                processes.append(
                    Process(
                        f"worker-{i}",
                        [
                            str(VENV_BIN / "rq"),
                            "worker",
                            "--url",
                            env["REDIS_URL"],
                            "-w",
                            "atomicseats.pipeline.worker.AppWorker",
                            "--with-scheduler",
                            f"{prefix}bookings",
                            f"{prefix}notifications",
                        ],
                        env,
                        log_dir,
                    ).start()
                )
            port = int(stack.url.rsplit(":", 1)[1])
            conn = stack.connect()
            ((_, host_token),) = make_users(conn, 1, "host")
            buyers = [t for _, t in make_users(conn, max(levels))]
            holders = [t for _, t in make_users(conn, max(levels))]
            rows = []
            for level in levels:
                event_id, seats = create_event(port, host_token, f"Checkout bench {level}")
                hold_event, hold_seats = create_event(port, host_token, f"Hold bench {level}")
                # warm up: first jobs pay for imports and connections in every process
                warm = checkout_phase(port, buyers[:2], event_id, seats[-50:], 2)
                result = checkout_phase(port, buyers[:level], event_id, seats[:-50], args.seconds)
                holds_only = hold_phase(port, holders[:level], hold_event, hold_seats, args.seconds)
                check = audit(conn, event_id, warm["ids"] + result["ids"])
                check["server_e2e"] = check["server_e2e"][len(warm["ids"]) :]  # approximately: drop warm-up
                confirmed = sum(1 for s in result["final"].values() if s == "confirmed")
                rows.append((level, result, holds_only, check, confirmed))
            conn.close()
        print(
            f"\nmachine: {os.cpu_count()} cores, {platform.python_implementation()} {platform.python_version()}, "
            f"{args.workers} RQ workers, {args.seconds:.0f} s per phase, "
            f"{'volume database (history)' if args.volume else 'empty database'}"
        )
        print(
            f"{'buyers':>6} | {'202->confirmed p50/p99 ms':>25} | {'server p50/p99 ms':>17} | {'bookings/s':>10} | "
            f"{'hold p50/p99 ms':>16} | {'holds/s':>7} | {'e2e p50/hold p50':>16} | {'bookings/s/holds/s':>18} | audit"
        )
        for level, result, holds_only, check, confirmed in rows:
            per_s = confirmed / result["wall"]
            holds_per_s = len(holds_only["hold"]) / holds_only["wall"]
            e2e50 = percentile(result["e2e"], 50)
            h50 = percentile(holds_only["hold"], 50)
            problems = {k: v for k, v in check.items() if k != "server_e2e" and v}
            print(
                f"{level:>6} | {ms(result['e2e'], 50)} / {ms(result['e2e'], 99)}       | "
                f"{ms(check['server_e2e'], 50)}/{ms(check['server_e2e'], 99)} | {per_s:10.1f} | "
                f"{ms(holds_only['hold'], 50)}/{ms(holds_only['hold'], 99)} | {holds_per_s:7.1f} | "
                f"{e2e50 / h50:16.1f} | {per_s / holds_per_s:18.2f} | "
                f"{problems or 'ok'} ({confirmed} confirmed, {result['errors']} errors)"
            )
    finally:
        for proc in reversed(processes):
            proc.stop()
        kafka.stop()


if __name__ == "__main__":
    main()
