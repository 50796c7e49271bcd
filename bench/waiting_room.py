"""Waiting room under an on-sale: do admitted buyers hold fast while thousands wait, and do positions arrive?

Usage: ``.venv/bin/python bench/waiting_room.py [--clients 5000] [--buyers 400] [--rate 400]``

Starts its own database, gunicorn, the realtime process and the scheduler (which admits), creates a reserved
event whose waiting room opens in ten minutes, and connects ``--clients`` Socket.IO clients (websocket,
signed in with their realtime token, asyncio clients spread over ``--processes`` processes). Each joins the
queue (the pre-queue); then the host moves the opening to now and the scheduler draws the places and admits
``--rate`` a minute. Each client learns its place as the waiting page does: from the draw's push to its own
room, asking ``GET /queue/{ticket}`` only when the push did not carry it. The clients drawn into the first
``--buyers`` places are the buyers: each holds one seat with its admission token the moment it hears
``queue_admitted``, on a thread and connection of its own (a browser's hold does not wait for other pages).
Every client still waiting stamps each ``queue_progress`` it receives against the tick that sent it. Prints the
buyers' hold latency, the position delivery delay (p50/p99/max), how many place reads the clients made and the
server processes' CPU time in the draw's first seconds and over the sale, then audits PostgreSQL: one admission
row per person, no seat held twice.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import platform
import random
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import requests
import socketio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from atomicseats.realtime import make_token
from bench.stack import bench_stack, cpu_seconds, make_users, percentile
from tests.services import start_flask_command, start_realtime

TARGET_HOLD_P99_MS = 200.0
TARGET_DELIVERY_P99_MS = 5000.0
CONCURRENT_HANDSHAKES = 20
CONCURRENT_JOINS = 16
PLACE_POLL_SPREAD_S = 2.0  # as the page does when a push without its place comes: read it, spread out
DRAW_WINDOW_S = 10.0  # the server CPU reported for the draw: from the opening until this much later
BUYER_THREADS = 64  # holds in flight at once per client process, each on its own thread and connection
LAG_PROBE_S = 0.01  # how often each client process checks that its event loop is not stalled


class Client:
    """One waiting person: a Socket.IO connection in their own user room, and their place in line."""

    def __init__(self, user_id: int, token: str, realtime_token: str, event_id: int, buyers: int, seats: list[int]):
        self.user_id, self.token, self.event_id, self.buyers, self.seats = user_id, token, event_id, buyers, seats
        self.auth = {"token": realtime_token}
        self.ticket: str | None = None
        self.place: int | None = None
        self.delays_ms: list[float] = []
        self.place_reads = 0
        self.hold: tuple[int, float] | None = None  # (status, ms)
        self.hold_at = 0.0  # when it was sent (epoch seconds): the slowest are reported against the opening
        self.done = asyncio.Event()
        self.sio = socketio.AsyncClient(reconnection=False)
        self.sio.on("queue_progress", self._on_progress)
        self.sio.on("queue_admitted", self._on_admitted)
        self.http: aiohttp.ClientSession | None = None
        self.buy_pool: ThreadPoolExecutor | None = None
        self.base = ""

    async def _api(self, method: str, path: str, body: dict | None = None):
        headers = {"Authorization": f"Bearer {self.token}"}
        async with self.http.request(method, self.base + "/api/v1" + path, json=body, headers=headers) as r:
            return r.status, await r.json(content_type=None)

    async def _on_progress(self, data: dict) -> None:
        received = time.time() * 1000
        if self.hold is None and (self.place is None or data["head"] < self.place):
            self.delays_ms.append(received - data["sent_at_ms"])
        if data.get("place") is not None:  # the draw's push: this client's own place
            self._placed(data["place"])
        if self.place is None:
            await asyncio.sleep(random.uniform(0, PLACE_POLL_SPREAD_S))
            self.place_reads += 1
            status, state = await self._api("GET", f"/queue/{self.ticket}")
            if status == 200 and state["place"] is not None:
                self._placed(state["place"])

    def _placed(self, place: int) -> None:
        self.place = place
        if place > self.buyers:
            self.done.set()  # not a buyer: keeps listening, has nothing to wait for

    async def _on_admitted(self, data: dict) -> None:
        self.place = data["place"]
        if self.place > self.buyers or self.hold is not None:
            return
        self.hold_at = time.time()
        self.hold = await asyncio.get_running_loop().run_in_executor(
            self.buy_pool,
            _timed_post,
            f"{self.base}/api/v1/events/{self.event_id}/holds",
            {"seat_ids": [self.seats[self.place - 1]]},
            {"Authorization": f"Bearer {self.token}", "X-Admission-Token": data["admission_token"]},
        )
        self.done.set()


def _timed_post(url: str, body: dict, headers: dict[str, str]) -> tuple[int, float]:
    """A buyer's hold, sent and timed on a thread of its own with a connection of its own, as each browser has
    them: the event loop it leaves may stall handling the pushes to a thousand other clients, which no browser
    does, and the hold's answer would wait for it."""
    started = time.perf_counter()
    status = requests.post(url, json=body, headers=headers, timeout=60).status_code
    return status, (time.perf_counter() - started) * 1000


async def _run_clients(base: str, rt_url: str, people: list, event_id: int, buyers: int, seats, ready, go, stop):
    clients = [Client(uid, tok, rt, event_id, buyers, seats) for uid, tok, rt in people]
    # A new connection per request: reusing one that gunicorn's keep-alive timeout is closing resets it.
    connector = aiohttp.TCPConnector(limit=CONCURRENT_JOINS, force_close=True)
    async with aiohttp.ClientSession(connector=connector) as http:
        buy_pool = ThreadPoolExecutor(BUYER_THREADS, thread_name_prefix="buyer")
        handshakes = asyncio.Semaphore(CONCURRENT_HANDSHAKES)

        async def connect_and_join(c: Client) -> None:
            c.http, c.buy_pool, c.base = http, buy_pool, base
            async with handshakes:
                await c.sio.connect(rt_url, transports=["websocket"], auth=c.auth, wait_timeout=60)
            status, state = await c._api("POST", f"/events/{event_id}/queue")
            if status != 200:
                raise SystemExit(f"join failed: {status} {state}")
            c.ticket = state["ticket"]

        await asyncio.gather(*(connect_and_join(c) for c in clients))
        ready.put(len(clients))
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, go.wait)
        stalls: list[tuple[float, float]] = []  # (when it ended, epoch s; ms late) for each stall of this loop
        watch = asyncio.ensure_future(_watch_loop(stalls))
        await loop.run_in_executor(None, stop.wait)
        watch.cancel()
        buy_pool.shutdown()
        await asyncio.gather(*(c.sio.disconnect() for c in clients))
    return [(c.user_id, c.place, c.hold, c.delays_ms, c.place_reads, c.hold_at, _stalled(c, stalls)) for c in clients]


async def _watch_loop(stalls: list[tuple[float, float]]) -> None:
    """Record when this client process's event loop runs late: a buyer's hold answer waits for it to be read."""
    loop = asyncio.get_running_loop()
    while True:
        started = loop.time()
        await asyncio.sleep(LAG_PROBE_S)
        late_ms = (loop.time() - started - LAG_PROBE_S) * 1000
        if late_ms > 20:
            stalls.append((time.time(), late_ms))


def _stalled(c: Client, stalls: list[tuple[float, float]]) -> float:
    """The longest stall of the client's own process while its hold was in flight (ms; 0 for no hold)."""
    if c.hold is None:
        return 0.0
    end = c.hold_at + c.hold[1] / 1000
    return max((ms for at, ms in stalls if c.hold_at <= at and at - ms / 1000 <= end), default=0.0)


def _clients(base, rt_url, people, event_id, buyers, seats, ready, go, stop, out) -> None:
    out.put(asyncio.run(_run_clients(base, rt_url, people, event_id, buyers, seats, ready, go, stop)))


def _served_holds(base: str) -> dict[str, int]:
    """How many holds the web process answered within each of its latency buckets, as it timed them (from the
    request reaching Flask to the answer leaving it): what the server did, without the clients' own delays."""
    prefix = "atomicseats_http_request_duration_seconds_bucket{"
    counts = {}
    for line in requests.get(base + "/metrics", timeout=30).text.splitlines():
        if line.startswith(prefix) and 'endpoint="api.create_hold"' in line and 'method="POST"' in line:
            le = line.split('le="', 1)[1].split('"', 1)[0]
            counts[le] = int(float(line.rsplit(" ", 1)[1]))
    return counts


def _sync_api(base: str, method: str, path: str, token: str, body: dict | None = None) -> dict:
    r = requests.request(method, base + "/api/v1" + path, json=body, headers={"Authorization": f"Bearer {token}"})
    if r.status_code >= 300:
        raise SystemExit(f"{method} {path}: {r.status_code} {r.text}")
    return r.json()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=5000)
    parser.add_argument("--buyers", type=int, default=400)
    parser.add_argument("--rate", type=int, default=400, help="admit_per_minute")
    parser.add_argument("--processes", type=int, default=4)
    args = parser.parse_args()
    rows = max(1, -(-args.buyers // 40))
    env = {
        "WAITING_ROOM_MAX_PER_IP": "0",  # every client comes from 127.0.0.1
        "REALTIME_MAX_CONNECTIONS": str(args.clients + 100),
        "WAITING_ROOM_TICK_SECONDS": "1",
    }
    with tempfile.TemporaryDirectory() as tmp, bench_stack(Path(tmp), extra_env=env) as stack:
        realtime, rt_url = start_realtime(stack.env, Path(tmp))
        scheduler = start_flask_command("scheduler", ["pipeline", "scheduler"], stack.env, Path(tmp))
        try:
            conn = stack.connect()
            ((_, host_token),) = make_users(conn, 1, role="host")
            people = make_users(conn, args.clients)
            conn.close()
            secret = stack.env["SECRET_KEY"]
            people = [(uid, tok, make_token(secret, uid)) for uid, tok in people]
            starts = datetime.now(UTC) + timedelta(days=5)
            event = _sync_api(
                stack.url,
                "POST",
                "/events",
                host_token,
                {
                    "name": "Waiting room bench",
                    "venue": "Bench Hall",
                    "starts_at": starts.isoformat(),
                    "ends_at": (starts + timedelta(hours=2)).isoformat(),
                    "seating": "reserved",
                    "sections": [
                        {
                            "name": "Floor",
                            "price_cents": 5000,
                            "rows": [{"label": f"R{r}", "seats": 40} for r in range(rows)],
                        }
                    ],
                    "waiting_room": {
                        "enabled": True,
                        "opens_at": (datetime.now(UTC) + timedelta(minutes=10)).isoformat(),
                        "admit_per_minute": args.rate,
                    },
                },
            )
            event_id = event["id"]
            _sync_api(stack.url, "POST", f"/events/{event_id}/publish", host_token)
            seats = [s["id"] for s in _sync_api(stack.url, "GET", f"/events/{event_id}/seats", host_token)["items"]]

            started = time.perf_counter()
            ready, go, stop, out = mp.Queue(), mp.Event(), mp.Event(), mp.Queue()
            shares = [people[i :: args.processes] for i in range(args.processes)]
            procs = [
                mp.Process(
                    target=_clients,
                    args=(stack.url, rt_url, share, event_id, args.buyers, seats, ready, go, stop, out),
                )
                for share in shares
            ]
            for proc in procs:
                proc.start()
            for _ in procs:
                ready.get(timeout=900)
            joined_s = time.perf_counter() - started
            servers = {
                name: [proc.popen.pid, *proc.children()]
                for name, proc in (("web", stack.web), ("realtime", realtime), ("scheduler", scheduler))
            }
            cpu = {"opening": {name: sum(map(cpu_seconds, pids)) for name, pids in servers.items()}}
            go.set()
            opened, opened_at = time.perf_counter(), time.time()
            _sync_api(
                stack.url,
                "PATCH",
                f"/events/{event_id}",
                host_token,
                {"waiting_room": {"opens_at": datetime.now(UTC).isoformat()}},
            )
            expected_s = args.buyers * 60 / args.rate
            deadline = time.monotonic() + expected_s + 120
            conn = stack.connect()
            while time.monotonic() < deadline:
                if "draw" not in cpu and time.perf_counter() - opened >= DRAW_WINDOW_S:
                    cpu["draw"] = {name: sum(map(cpu_seconds, pids)) for name, pids in servers.items()}
                with conn.cursor() as cur:
                    cur.execute("SELECT count(*) FROM holds WHERE event_id = %s", (event_id,))
                    if cur.fetchone()[0] >= args.buyers:
                        break
                conn.rollback()
                time.sleep(0.5)
            sale_s = time.perf_counter() - opened
            cpu["end"] = {name: sum(map(cpu_seconds, pids)) for name, pids in servers.items()}
            served = _served_holds(stack.url)
            cpu.setdefault("draw", cpu["end"])
            stop.set()
            results = [r for _ in procs for r in out.get(timeout=300)]
            for proc in procs:
                proc.join()
            with conn.cursor() as cur:
                cur.execute(
                    "SELECT count(*), count(DISTINCT user_id) FROM queue_admissions WHERE event_id = %s", (event_id,)
                )
                admissions, distinct = cur.fetchone()
                cur.execute(
                    "SELECT count(*), count(DISTINCT hs.seat_id) FROM hold_seats hs JOIN holds h ON h.id = hs.hold_id "
                    "WHERE h.event_id = %s",
                    (event_id,),
                )
                held, distinct_seats = cur.fetchone()
            conn.close()
        finally:
            scheduler.stop()
            realtime.stop()

    holds = [r[2] for r in results if r[2] is not None]
    hold_ms = [ms for status, ms in holds if status == 201]
    delays = [d for r in results for d in r[3]]
    print(f"\nWaiting room: {args.clients} queued clients, {args.buyers} buyers admitted at {args.rate}/min")
    print(f"machine: {platform.processor() or platform.machine()}, {mp.cpu_count()} cores, {time.strftime('%Y-%m-%d')}")
    print(f"connected and joined in {joined_s:.1f} s; opening to last buyer's hold {sale_s:.1f} s\n")
    print(f"| {'measure':<26} | {'n':>6} | {'p50 ms':>8} | {'p99 ms':>8} | {'max ms':>8} | {'target p99':>12} |")
    print(f"|{'-' * 28}|{'-' * 8}|{'-' * 10}|{'-' * 10}|{'-' * 10}|{'-' * 14}|")
    for name, values, target in (
        ("buyers' holds (201)", hold_ms, TARGET_HOLD_P99_MS),
        ("position update delivery", delays, TARGET_DELIVERY_P99_MS),
    ):
        p99 = percentile(values, 99)
        verdict = f"< {int(target)} " + ("ok" if p99 < target else "MISSED")
        print(
            f"| {name:<26} | {len(values):>6} | {percentile(values, 50):>8.1f} | {p99:>8.1f} | "
            f"{max(values, default=float('nan')):>8.1f} | {verdict:>12} |"
        )
    for label, until in ((f"first {DRAW_WINDOW_S:.0f} s after opening", "draw"), ("whole sale", "end")):
        spent = ", ".join(f"{name} {cpu[until][name] - cpu['opening'][name]:.2f}" for name in cpu["opening"])
        print(f"server CPU seconds, {label}: {spent}")
    print(f"place reads (GET /queue/{{ticket}}) made by the clients: {sum(r[4] for r in results)}")
    timed = [(r[2][1], r[5] - opened_at, r[6]) for r in results if r[2] is not None and r[2][0] == 201]
    slowest = sorted(timed)[-5:]
    print(
        "slowest holds (ms, sent s after opening, longest stall of the buyer's own client process meanwhile): "
        + ", ".join(f"{ms:.0f} at {at:.1f} (stall {stall:.0f})" for ms, at, stall in slowest)
    )
    print(
        f"holds whose client process stalled > 100 ms meanwhile: {sum(1 for *_, stall in timed if stall > 100)}; "
        f"hold p99 without them: {percentile([ms for ms, _, stall in timed if stall <= 100], 99):.1f} ms"
    )
    within = ", ".join(f"{le} s: {n}" for le, n in served.items() if le in ("0.05", "0.1", "0.25", "0.5", "+Inf"))
    print(f"holds answered by the web process within (its own timing, cumulative): {within}")
    refused = [status for status, _ in holds if status != 201]
    print(f"\nholds refused: {len(refused)} {sorted(set(refused))}; buyers who never held: {args.buyers - len(holds)}")
    print(f"audit: {admissions} admissions for {distinct} people; {held} held seats, {distinct_seats} distinct")
    print(json.dumps({"hold_p99_ms": percentile(hold_ms, 99), "delivery_p99_ms": percentile(delays, 99)}))


if __name__ == "__main__":
    main()
