"""The web worker's CPU per request on each hot path of a general-admission sale, one request at a time.

Usage: ``.venv/bin/python bench/request_cpu.py [--requests 400] [--rounds 3]``

In a flash sale every core is busy and the web worker's CPU per request bounds how fast buyers are answered;
the sale itself (``bench/flash_sale.py``) spreads by a fifth from run to run, which hides a change of a few
percent. This asks the same server (gunicorn as the Procfile runs it, its own database and Redis prefix, no
pipeline) for one kind of request after another from one keep-alive client, and divides the worker's own CPU
time (``/proc``, user + system) by the requests it answered: the cost of the request, not of the waiting.
Kinds: ``/health`` (the floor), a GA hold (201), checkout with an Idempotency-Key (202), the booking poll, the
event read a refused buyer makes, and a hold refused by the gate (409). Prints the median over ``--rounds``, after a
round that warms the worker up.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.flash_sale import Http, create_ga_event
from bench.stack import bench_stack, cpu_seconds, make_users, print_medians, rounds_after_warm_up


def worker_pid(master: int) -> int:
    """The gunicorn worker under ``master`` (the shipped configuration runs one per web process here)."""
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    if len(children) != 1:
        raise SystemExit(f"expected one gunicorn worker, found {children}")
    return int(children[0])


def measure(pid: int, calls: list[tuple], client: Http, expect: int) -> tuple[float, list]:
    """Web CPU milliseconds per call, and the answers' bodies; every call must get ``expect``."""
    bodies = []
    before = cpu_seconds(pid)
    for method, path, token, body, key in calls:
        status, data, _ = client.call(method, path, token, body, key)
        if status != expect:
            raise SystemExit(f"{method} {path}: expected {expect}, got {status} {data}")
        bodies.append(data)
    return (cpu_seconds(pid) - before) * 1000 / len(calls), bodies


def one_round(url: str, pid: int, host_token: str, tokens: list[str]) -> dict[str, float]:
    client = Http(url)
    n = len(tokens)
    event = create_ga_event(url, host_token, capacity=n)
    holds_path = f"/api/v1/events/{event}/holds"
    out: dict[str, float] = {}
    out["GET /health"], _ = measure(pid, [("GET", "/health", tokens[0], None, None)] * n, client, 200)
    calls = [("POST", holds_path, t, {"quantity": 1}, None) for t in tokens]
    out["POST holds (201)"], holds = measure(pid, calls, client, 201)
    calls = [
        (
            "POST",
            "/api/v1/bookings",
            t,
            {"hold_id": h["id"], "payment": {"card_number": "4242424242424242"}},
            uuid.uuid4().hex,
        )
        for t, h in zip(tokens, holds, strict=True)
    ]
    out["POST bookings (202)"], bookings = measure(pid, calls, client, 202)
    calls = [("GET", f"/api/v1/bookings/{b['id']}", t, None, None) for t, b in zip(tokens, bookings, strict=True)]
    out["GET booking (poll)"], _ = measure(pid, calls, client, 200)
    out["GET event"], _ = measure(pid, [("GET", f"/api/v1/events/{event}", t, None, None) for t in tokens], client, 200)
    calls = [("POST", holds_path, t, {"quantity": 1}, None) for t in tokens]
    out["POST holds (409)"], _ = measure(pid, calls, client, 409)
    client.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400, help="requests of each kind per round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, bench_stack(Path(tmp)) as stack:
        pid = worker_pid(stack.web.popen.pid)
        conn = stack.connect()
        ((_, host_token),) = make_users(conn, 1, role="host")
        rounds = rounds_after_warm_up(
            args.rounds, lambda: one_round(stack.url, pid, host_token, [t for _, t in make_users(conn, args.requests)])
        )
        conn.close()
    print_medians(f"web worker CPU per request (ms), median of {args.rounds} rounds of {args.requests}", rounds)


if __name__ == "__main__":
    main()
