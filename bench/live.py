"""Live update delay: how long after a hold does every open seat map hear of it?

Usage: ``.venv/bin/python bench/live.py [--clients 500] [--holds 20]``

Starts its own database and gunicorn (gthread, one worker, more threads than websockets: Flask-SocketIO's
threading mode pins one thread per connection), seeds a reserved event, connects ``--clients`` Socket.IO
clients (websocket transport, asyncio clients in a few processes) that each join the event's room, then makes
``--holds`` holds one after the other, the first the moment the last client has joined. For each hold it
measures, per client, the time from sending ``POST /holds`` to receiving the ``seat_status`` that marks the
seat held, and releases the hold before the next one. Prints p50/p99/max and how many deliveries never came.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import multiprocessing as mp
import platform
import sys
import tempfile
import time
from pathlib import Path

import socketio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.holds import _make_event, _seat_ids
from bench.stack import bench_stack, make_users, percentile

TARGET_P99_MS = 250.0
CONNECT_ATTEMPTS = 5
CONCURRENT_HANDSHAKES = 20


class Listener:
    """One seat map: a Socket.IO client in the event's room that stamps when each seat turns held."""

    def __init__(self, event_id: int):
        self.event_id = event_id
        self.seen: dict[int, float] = {}
        self.joined = asyncio.Event()
        self.client = socketio.AsyncClient(reconnection=False)
        self.client.on("seat_status", self._on_status)

    async def connect(self, url: str) -> None:
        for attempt in range(1, CONNECT_ATTEMPTS + 1):
            try:
                await self.client.connect(url, transports=["websocket"], wait_timeout=30)
                break
            except socketio.exceptions.ConnectionError:
                if attempt == CONNECT_ATTEMPTS:
                    raise
                await asyncio.sleep(0.2 * attempt)  # a burst of handshakes can overflow the listen backlog
        await self.client.emit("join_event", {"event_id": self.event_id})

    def _on_status(self, data: dict) -> None:
        now = time.time()
        if data.get("full"):
            self.joined.set()
            return
        for seat in data["seats"]:
            if seat["status"] == "held":
                self.seen.setdefault(seat["id"], now)


def _request(port: int, method: str, path: str, token: str, body: dict | None = None) -> tuple[int, dict | None]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    response = conn.getresponse()
    raw = response.read()
    conn.close()
    return response.status, (json.loads(raw) if raw else None)


def _listen(url: str, event_id: int, count: int, ready, stop, out) -> None:
    """One client process: ``count`` seat maps on one asyncio loop, so that the clients' own cost stays small
    next to the server's (real seat maps run on other machines; here they share the server's two cores)."""
    out.put(asyncio.run(_listen_async(url, event_id, count, ready, stop)))


async def _listen_async(url: str, event_id: int, count: int, ready, stop) -> list[dict[int, float]]:
    listeners = [Listener(event_id) for _ in range(count)]
    handshakes = asyncio.Semaphore(CONCURRENT_HANDSHAKES)

    async def join(listener: Listener) -> None:
        async with handshakes:
            await listener.connect(url)
        await asyncio.wait_for(listener.joined.wait(), 30)  # the full seat_status answering join_event

    await asyncio.gather(*(join(lis) for lis in listeners))
    ready.put(count)
    await asyncio.get_running_loop().run_in_executor(None, stop.wait)
    await asyncio.gather(*(lis.client.disconnect() for lis in listeners))
    return [lis.seen for lis in listeners]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--holds", type=int, default=20)
    parser.add_argument("--processes", type=int, default=4, help="client processes the clients are spread over")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp, bench_stack(Path(tmp), threads=args.clients + 100) as stack:
        port = int(stack.url.rsplit(":", 1)[1])
        conn = stack.connect()
        ((_, host_token),) = make_users(conn, 1, role="host")
        ((_, buyer_token),) = make_users(conn, 1)
        conn.close()
        event_id = _make_event(port, host_token)
        seats = _seat_ids(port, event_id)[: args.holds]

        started = time.perf_counter()
        ready, out, stop = mp.Queue(), mp.Queue(), mp.Event()
        shares = [args.clients // args.processes + (i < args.clients % args.processes) for i in range(args.processes)]
        procs = [mp.Process(target=_listen, args=(stack.url, event_id, n, ready, stop, out)) for n in shares]
        for proc in procs:
            proc.start()
        for _ in procs:
            ready.get(timeout=300)
        connect_s = time.perf_counter() - started

        sent: dict[int, float] = {}
        answered: list[float] = []  # the baseline: the hold request's own round trip, in the same run
        for seat_id in seats:
            sent[seat_id] = time.time()
            status, hold = _request(
                port, "POST", f"/api/v1/events/{event_id}/holds", buyer_token, {"seat_ids": [seat_id]}
            )
            answered.append((time.time() - sent[seat_id]) * 1000)
            if status != 201:
                raise SystemExit(f"hold failed: {status} {hold}")
            time.sleep(0.3)  # one change at a time, so each delay is this hold's alone
            _request(port, "DELETE", f"/api/v1/holds/{hold['id']}", buyer_token)
            time.sleep(0.2)
        time.sleep(1)
        stop.set()
        seen = [s for _ in procs for s in out.get(timeout=120)]
        for proc in procs:
            proc.join()

    print(
        f"\nLive updates: {args.clients} Socket.IO clients (websocket, {args.processes} processes), {args.holds} holds"
    )
    print(f"machine: {platform.processor() or platform.machine()}, {mp.cpu_count()} cores, {time.strftime('%Y-%m-%d')}")
    print(f"clients connected and joined in {connect_s:.1f} s\n")
    delays = [(maps[seat] - sent[seat]) * 1000 for maps in seen for seat in seats if seat in maps]
    missed = len(seen) * len(seats) - len(delays)
    p50, p99 = percentile(delays, 50), percentile(delays, 99)
    print(
        f"| {'deliveries':>10} | {'missed':>6} | {'p50 ms':>7} | {'p99 ms':>7} | {'max ms':>7} | {'target p99':>12} |"
    )
    print(f"|{'-' * 12}|{'-' * 8}|{'-' * 9}|{'-' * 9}|{'-' * 9}|{'-' * 14}|")
    verdict = f"< {int(TARGET_P99_MS)} " + ("ok" if p99 < TARGET_P99_MS else "MISSED")
    worst = max(delays, default=float("nan"))
    print(f"| {len(delays):>10} | {missed:>6} | {p50:>7.1f} | {p99:>7.1f} | {worst:>7.1f} | {verdict:>12} |")
    print("\nDelay = from sending POST /holds to a client receiving the seat_status that marks the seat held.")
    base = percentile(answered, 50)
    print(f"Baseline: POST /holds answered in p50 {base:.1f} ms; delivery p50 = {p50 / base:.1f}x that.")


if __name__ == "__main__":
    main()
