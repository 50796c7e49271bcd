"""Live seat maps at scale: do thousands of open maps cost the site anything, and how fast do changes reach them?

Usage: ``.venv/bin/python bench/live.py [--clients 5000] [--processes 4] [--holds 20]``, or with ``--sale
[--buyers 400]``: the general-admission flash sale of ``bench/flash_sale.py --shape ga`` on its whole stack, once
without maps and once with the maps open on the sale's event (hold and ``/health`` latencies of both, and
whether every map ends up showing every place booked).

Starts its own database, the web process and the realtime process exactly as the Procfile runs them (no special
thread count: an open map holds no web thread), seeds a reserved event of 20,000 seats, and then:

1. without maps: ``--holds`` holds every 0.5 s (each kept until all are held) while a probe thread asks
   ``/health`` every 50 ms: the baseline hold and ``/health`` latencies;
2. connects ``--clients`` seat maps (WebSocket, spread over ``--processes`` client processes), first without
   joining: the memory an open connection costs; then every map joins the event's room and receives its full
   map: connect and join time per map, in total, and the memory a joined map costs (after the sends drained,
   and at the peak while they were sent);
3. with every map open, the same holds and probes, and for each hold and map the time from sending
   ``POST /holds`` to the map receiving the ``seat_status`` that marks the seat held (never-delivered counted).

The maps are raw WebSocket clients speaking Engine.IO and Socket.IO by hand, many to an asyncio loop: they
answer pings, recognise a full map by its tail without parsing it, and parse only the small changes. The
clients share the server's two cores; a client that costs little leaves the measurement to the server.

Prints those figures, the realtime process's metrics, and the peak RSS of the web and realtime processes.
Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import http.client
import json
import multiprocessing as mp
import os
import platform
import sys
import tempfile
import threading
import time
from pathlib import Path

from websockets.frames import Frame, Opcode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.flash_sale import rss_peak_mb
from bench.holds import _make_event, _seat_ids
from bench.stack import bench_stack, make_users, percentile
from tests.services import start_realtime

CONNECT_ATTEMPTS = 5
CONCURRENT_HANDSHAKES = 20
PROBE_INTERVAL = 0.05
FULL_TAIL = b'"full":true}]'  # how a full map's Socket.IO packet ends (compact JSON, ``full`` its last key)


def _rss_mb(pid: int) -> float:
    """Current RSS of one process (the realtime process runs as one with REALTIME_PROCESSES=1)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class SeatMap(asyncio.Protocol):
    """One seat map as a raw client: WebSocket framing, Engine.IO v4 and Socket.IO v5 by hand on an asyncio
    protocol, so that thousands of maps cost their client processes little. It stamps when each seat turns held.

    Server frames are unmasked and whole (uvicorn sends a message as one frame); pings are answered (Engine.IO's
    ``2`` with ``3``, WebSocket pings with a pong).
    """

    def __init__(self, url: str, event_id: int):
        self.host, port = url.removeprefix("http://").split(":")
        self.port = int(port)
        self.event_id = event_id
        self.seen: dict[int, float] = {}
        self.latest: dict[int, str] = {}  # each seat's last status heard in a change
        self.buffer = bytearray()
        self.upgraded = False
        self.transport: asyncio.Transport | None = None
        self.connected: asyncio.Future | None = None
        self.joined = asyncio.Event()
        self.closed_early = False

    async def connect(self) -> float:
        """Open the connection and the Socket.IO namespace; returns the seconds that took."""
        started = time.perf_counter()
        loop = asyncio.get_running_loop()
        for attempt in range(1, CONNECT_ATTEMPTS + 1):
            self.connected = loop.create_future()
            try:
                await loop.create_connection(lambda: self, self.host, self.port)
                break
            except OSError:
                if attempt == CONNECT_ATTEMPTS:
                    raise
                await asyncio.sleep(0.2 * attempt)  # a burst of handshakes can overflow the listen backlog
        key = base64.b64encode(os.urandom(16)).decode()
        self.transport.write(
            (
                f"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        await asyncio.wait_for(self.connected, 60)
        return time.perf_counter() - started

    async def join(self) -> float:
        """Join the event's room; returns the seconds until its full map arrived."""
        started = time.perf_counter()
        self._send("42" + json.dumps(["join_event", {"event_id": self.event_id}], separators=(",", ":")))
        await asyncio.wait_for(self.joined.wait(), 120)
        return time.perf_counter() - started

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed_early = True
        if self.connected is not None and not self.connected.done():
            self.connected.set_exception(ConnectionError("closed during the handshake"))

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.upgraded:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            if not self.buffer.startswith(b"HTTP/1.1 101"):
                self.connected.set_exception(ConnectionError(bytes(self.buffer[:80]).decode(errors="replace")))
                self.transport.close()
                return
            self.upgraded = True
            del self.buffer[: end + 4]
        while len(self.buffer) >= 2:
            opcode, length = self.buffer[0] & 0x0F, self.buffer[1] & 0x7F
            header = 2
            if length == 126:
                header, length = 4, int.from_bytes(self.buffer[2:4], "big")
            elif length == 127:
                header, length = 10, int.from_bytes(self.buffer[2:10], "big")
            if len(self.buffer) < header + length:
                return
            payload = bytes(self.buffer[header : header + length])
            del self.buffer[: header + length]
            if opcode == Opcode.PING.value:
                self.transport.write(Frame(Opcode.PONG, payload).serialize(mask=True, extensions=[]))
            elif opcode == Opcode.TEXT.value:
                self._message(payload)

    def _message(self, message: bytes) -> None:
        if message == b"2":  # Engine.IO ping
            self._send("3")
        elif message.endswith(FULL_TAIL):
            self.joined.set()
        elif message.startswith(b'42["seat_status"'):
            now = time.time()
            for seat in json.loads(message[2:])[1]["seats"]:
                self.latest[seat["id"]] = seat["status"]
                if seat["status"] == "held":
                    self.seen.setdefault(seat["id"], now)
        elif message.startswith(b"0{"):  # Engine.IO open
            self._send("40")
        elif message.startswith(b"40"):  # Socket.IO connected
            self.connected.set_result(None)

    def _send(self, text: str) -> None:
        self.transport.write(Frame(Opcode.TEXT, text.encode()).serialize(mask=True, extensions=[]))

    async def close(self) -> None:
        self.transport.close()


def _listen(url: str, event_id: int, count: int, ready, go, stop, out, booked: bool = False) -> None:
    """One client process: ``count`` seat maps on one asyncio loop."""
    out.put(asyncio.run(_listen_async(url, event_id, count, ready, go, stop, booked)))


async def _listen_async(url: str, event_id: int, count: int, ready, go, stop, booked: bool) -> tuple[list, int]:
    """Each map's stamps of seats turning held (with ``booked``: how many seats it last heard were booked), and
    how many maps lost their connection before the end."""
    maps = [SeatMap(url, event_id) for _ in range(count)]
    handshakes = asyncio.Semaphore(CONCURRENT_HANDSHAKES)
    loop = asyncio.get_running_loop()

    async def gated(step) -> float:
        async with handshakes:
            return await step()

    connects = await asyncio.gather(*(gated(m.connect) for m in maps))
    ready.put(connects)
    await loop.run_in_executor(None, go.wait)
    ready.put(await asyncio.gather(*(gated(m.join) for m in maps)))
    await loop.run_in_executor(None, stop.wait)
    dropped = sum(m.closed_early for m in maps)
    await asyncio.gather(*(m.close() for m in maps))
    if booked:
        return [sum(status == "booked" for status in m.latest.values()) for m in maps], dropped
    return [m.seen for m in maps], dropped


def _request(port: int, method: str, path: str, token: str | None = None, body: dict | None = None) -> tuple:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    response = conn.getresponse()
    raw = response.read()
    conn.close()
    return response.status, (json.loads(raw) if raw else None)


class Probe:
    """``GET /health`` every 50 ms on a thread of its own, while a phase runs: its latencies in ms."""

    def __init__(self, port: int):
        self.port = port
        self.latencies: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(PROBE_INTERVAL):
            started = time.perf_counter()
            status, _ = _request(self.port, "GET", "/health")
            if status == 200:
                self.latencies.append((time.perf_counter() - started) * 1000)

    def __enter__(self) -> Probe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _holds(port: int, event_id: int, seats: list[int], tokens: list[str]) -> tuple[dict[int, float], list[float]]:
    """Hold each seat (a buyer each) every 0.5 s, keeping it until all are held, then release them all: when each
    hold was sent, and each hold's latency in ms.

    A held seat stays held while it is measured: a seat held and released within one tick is sent once, as
    available (last status wins), and a map could never be seen to hear that it was held.
    """
    sent: dict[int, float] = {}
    answered: list[float] = []
    holds: list[tuple[str, str]] = []
    for seat_id, token in zip(seats, tokens, strict=True):
        sent[seat_id] = time.time()
        started = time.perf_counter()
        status, hold = _request(port, "POST", f"/api/v1/events/{event_id}/holds", token, {"seat_ids": [seat_id]})
        answered.append((time.perf_counter() - started) * 1000)
        if status != 201:
            raise SystemExit(f"hold failed: {status} {hold}")
        holds.append((hold["id"], token))
        time.sleep(0.5)
    for hold_id, token in holds:
        _request(port, "DELETE", f"/api/v1/holds/{hold_id}", token)
    return sent, answered


def _realtime_metrics(url: str) -> dict[str, float]:
    """The realtime process's own counts: clients it dropped or refused (by reason), messages it sent."""
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    conn.close()
    wanted = ("atomicseats_realtime_dropped_clients_total", "atomicseats_realtime_refused_connections_total")
    wanted += ("atomicseats_realtime_messages_total",)
    return {
        line.rsplit(" ", 1)[0].removeprefix("atomicseats_realtime_"): float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(wanted)
    }


def _row(name: str, values: list[float]) -> str:
    if not values:
        return f"| {name:<32} | {'-':>7} | {'-':>7} | {'-':>7} | {0:>6} |"
    p50, p99 = percentile(values, 50), percentile(values, 99)
    return f"| {name:<32} | {p50:>7.1f} | {p99:>7.1f} | {max(values):>7.1f} | {len(values):>6} |"


def _open_maps(url: str, event_id: int, clients: int, processes: int, booked: bool = False) -> tuple:
    """Start the client processes and wait until every map has connected and joined: (procs, stop, out)."""
    ready, out, go, stop = mp.Queue(), mp.Queue(), mp.Event(), mp.Event()
    shares = [clients // processes + (i < clients % processes) for i in range(processes)]
    procs = [mp.Process(target=_listen, args=(url, event_id, n, ready, go, stop, out, booked)) for n in shares if n]
    for proc in procs:
        proc.start()
    for _ in procs:
        ready.get(timeout=900)
    go.set()
    for _ in procs:
        ready.get(timeout=900)
    return procs, stop, out


def sale(args: argparse.Namespace) -> None:
    """``--sale``: the general-admission flash sale of ``bench/flash_sale.py --shape ga`` (its whole stack and
    buyers), once without maps and once with ``--clients`` maps open on the sale's event, on one stack; the
    hold and ``/health`` latencies of both, and whether every map ended up showing every place booked."""
    from bench.flash_sale import create_ga_event, prepare_users, run_sale, sale_stack

    with tempfile.TemporaryDirectory() as tmp, sale_stack(Path(tmp)) as stack:
        realtime, realtime_url = start_realtime(stack.env, Path(tmp))
        try:
            port = int(stack.urls[0].rsplit(":", 1)[1])
            host_token, tokens = prepare_users(stack, args.buyers)
            rows = []
            for maps in (0, args.clients):
                event_id = create_ga_event(stack.urls[0], host_token)
                opened = _open_maps(realtime_url, event_id, maps, args.processes, booked=True) if maps else None
                with Probe(port) as probe:
                    tally, seconds = run_sale(stack.urls, tokens, event_id, 300.0, "ga")
                time.sleep(1)  # the last tick
                _, body = _request(port, "GET", f"/api/v1/events/{event_id}")
                shown = ""
                if opened:
                    procs, stop, out = opened
                    stop.set()
                    results = [out.get(timeout=300) for _ in procs]
                    for proc in procs:
                        proc.join()
                    counts = [n for booked, _ in results for n in booked]
                    right = sum(n == body["availability"]["booked"] for n in counts)
                    lost = sum(dropped for _, dropped in results)
                    shown = (
                        f"; {right} of {len(counts)} maps show all {body['availability']['booked']} booked, "
                        f"{lost} lost their connection"
                    )
                rows.append((f"{maps} maps", tally.hold_ms, probe.latencies, seconds, shown))
            peaks = {"web": rss_peak_mb(stack.webs[0][0].popen.pid), "realtime": rss_peak_mb(realtime.popen.pid)}
            metrics = _realtime_metrics(realtime_url)
        finally:
            realtime.stop()
    print("realtime process: " + ", ".join(f"{name} {value:.0f}" for name, value in metrics.items()))
    print(f"\nGA flash sale ({args.buyers} buyers), without and with {args.clients} maps on its event")
    print(f"| {'ms':<32} | {'p50':>7} | {'p99':>7} | {'max':>7} | {'n':>6} |")
    print(f"|{'-' * 34}|{'-' * 9}|{'-' * 9}|{'-' * 9}|{'-' * 8}|")
    for label, holds, health, _, _ in rows:
        print(_row(f"POST /holds, {label}", holds))
        print(_row(f"/health, {label}", health))
    for label, _, _, seconds, shown in rows:
        print(f"sale with {label}: {seconds:.1f} s{shown}")
    print("peak RSS: " + ", ".join(f"{name} {mb:.0f} MB" for name, mb in peaks.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--holds", type=int, default=20)
    parser.add_argument("--processes", type=int, default=4, help="client processes the clients are spread over")
    parser.add_argument("--sale", action="store_true", help="measure the GA flash sale with and without the maps")
    parser.add_argument("--buyers", type=int, default=400, help="the sale's buyers (with --sale)")
    args = parser.parse_args()
    if args.sale:
        sale(args)
        return

    with tempfile.TemporaryDirectory() as tmp, bench_stack(Path(tmp)) as stack:
        realtime, realtime_url = start_realtime(stack.env, Path(tmp))
        try:
            port = int(stack.url.rsplit(":", 1)[1])
            conn = stack.connect()
            ((_, host_token),) = make_users(conn, 1, role="host")
            buyers = [token for _, token in make_users(conn, args.holds)]
            conn.close()
            event_id = _make_event(port, host_token)
            seats = _seat_ids(port, event_id)
            before_seats, during_seats = seats[: args.holds], seats[args.holds : 2 * args.holds]

            with Probe(port) as idle_probe:
                _, idle_holds = _holds(port, event_id, before_seats, buyers)
            rss_before = _rss_mb(realtime.popen.pid)

            started = time.perf_counter()
            ready, out, go, stop = mp.Queue(), mp.Queue(), mp.Event(), mp.Event()
            shares = [
                args.clients // args.processes + (i < args.clients % args.processes) for i in range(args.processes)
            ]
            procs = [mp.Process(target=_listen, args=(realtime_url, event_id, n, ready, go, stop, out)) for n in shares]
            for proc in procs:
                proc.start()
            connects = [t * 1000 for _ in procs for t in ready.get(timeout=900)]
            connect_s = time.perf_counter() - started
            time.sleep(2)  # settled
            rss_connected = _rss_mb(realtime.popen.pid)
            started = time.perf_counter()
            go.set()
            joins = [t * 1000 for _ in procs for t in ready.get(timeout=900)]
            join_s = time.perf_counter() - started
            time.sleep(2)  # the full maps' send buffers drained
            rss_joined = _rss_mb(realtime.popen.pid)
            rss_join_peak = rss_peak_mb(realtime.popen.pid)

            with Probe(port) as busy_probe:
                sent, busy_holds = _holds(port, event_id, during_seats, buyers)
                time.sleep(1)
            stop.set()
            results = [out.get(timeout=300) for _ in procs]
            seen = [maps for maps_seen, _ in results for maps in maps_seen]
            closed_early = sum(dropped for _, dropped in results)
            for proc in procs:
                proc.join()
            peaks = {"web": rss_peak_mb(stack.web.popen.pid), "realtime": rss_peak_mb(realtime.popen.pid)}
            metrics = _realtime_metrics(realtime_url)
        finally:
            realtime.stop()

    delays = [(maps[seat] - sent[seat]) * 1000 for maps in seen for seat in during_seats if seat in maps]
    missed = len(seen) * len(during_seats) - len(delays)
    print(f"\nLive seat maps: {args.clients} raw WebSocket clients ({args.processes} client processes)")
    print(f"machine: {platform.processor() or platform.machine()}, {mp.cpu_count()} cores, {time.strftime('%Y-%m-%d')}")
    print(
        f"event of {len(seats)} seats; {args.clients} maps connected in {connect_s:.1f} s, joined in {join_s:.1f} s\n"
    )
    print(f"| {'ms':<32} | {'p50':>7} | {'p99':>7} | {'max':>7} | {'n':>6} |")
    print(f"|{'-' * 34}|{'-' * 9}|{'-' * 9}|{'-' * 9}|{'-' * 8}|")
    print(_row("connect, a map", connects))
    print(_row("join (full map), a map", joins))
    print(_row("seat change delivered, a map", delays))
    print(_row("/health, no maps", idle_probe.latencies))
    print(_row("/health, maps open", busy_probe.latencies))
    print(_row("POST /holds, no maps", idle_holds))
    print(_row("POST /holds, maps open", busy_holds))
    print(f"\nnever delivered: {missed} of {len(seen) * len(during_seats)}; connections closed early: {closed_early}")
    per = 1024 / max(args.clients, 1)
    print(
        f"realtime RSS: {rss_before:.0f} MB idle, {rss_connected:.0f} connected, {rss_joined:.0f} joined, "
        f"{rss_join_peak:.0f} peak while joining"
    )
    print(
        f"per map: {(rss_connected - rss_before) * per:.0f} KB a connection, "
        f"{(rss_joined - rss_connected) * per:.0f} KB more once joined, "
        f"{(rss_join_peak - rss_connected) * per:.0f} KB at the joins' peak"
    )
    print("realtime process: " + ", ".join(f"{name} {value:.0f}" for name, value in metrics.items()))
    print("peak RSS: " + ", ".join(f"{name} {mb:.0f} MB" for name, mb in peaks.items()))
    print(f"total: {sum(peaks.values()):.0f} MB")


if __name__ == "__main__":
    main()
