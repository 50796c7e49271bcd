"""Flash sale: 2,000 seats or places, N buyers at once, the whole pipeline, then a PostgreSQL audit.

Usage: ``.venv/bin/python bench/flash_sale.py [--shape reserved|ga] [--buyers 400] [--sales 1] [--volume]
[--web 1] [--workers 1] [--dispatchers 1]``

``--shape ga``: a general-admission event of 2,000 places. Each buyer holds 1-4 places, checks out, then polls
``GET /api/v1/bookings/{id}`` every 100 ms until it is final, and starts again; on a 409 it reads
``GET /api/v1/events/{id}`` and retries after 50-300 ms. The sale is over when availability shows 0 available
and 0 held. ``--sales N`` runs N such sales one after another on the same database (does the fifth run like
the first?). ``--volume`` starts from a copy of the database ``atomicseats_volume`` (made once with ``flask
seed-volume``, about 12 minutes, if it does not exist): years of history under the sale.

Starts a stack of its own (database, Redis prefix, Kafka broker on a free port, SMTP sink, ``--web`` gunicorn
processes as in the Procfile, scheduler, ``--dispatchers`` dispatchers, ``--workers`` RQ workers), creates one
reserved event (four sections of 500) and one user with a token per buyer. Buyers run as threads in client
processes, each on its own keep-alive connection to one web process (round robin over ``--web``). A buyer is a
browser tab that people keep arriving at until the event is sold out: a person wants 1-4 adjacent seats in the
best section that still has some (or presses "best available"), retries on 409 with what the 409 named marked
as taken, gives up after six refusals, checks out (one card in ten is declined) and waits for the result; a
declined person tries another card on the same hold, which lives on after a decline (both shapes). The
sale ends when every tab has found nothing left to buy, or after ``--max-seconds``.

Then it audits PostgreSQL and the SMTP sink (no seat in two confirmed bookings, seats sold = seats in confirmed
bookings, every 202 ended confirmed (good card) or failed (declined card), every confirmed booking has its
email) and prints duration, holds/s, checkouts/s, p50/p99 for hold and for 202->confirmed, the 409 rate and the
peak RSS of every server process. Figures are printed, never asserted; a broken audit exits 1.
"""

from __future__ import annotations

import argparse
import email.policy
import http.client
import itertools
import json
import multiprocessing as mp
import os
import platform
import random
import re
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import Any

import psycopg2
import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.stack import (  # noqa: E402
    FLASK,
    PG_ADMIN_DSN,
    PG_BASE_URL,
    REDIS_URL,
    VOLUME_TEMPLATE,
    create_database,
    make_users,
    percentile,
    process_tree,
)
from tests.services import VENV_BIN, KafkaBroker, Process, free_port, port_open, start_web, wait_for  # noqa: E402

SECTIONS = [("Front stalls", 12000), ("Stalls", 9000), ("Circle", 6000), ("Balcony", 4000)]
ROWS_PER_SECTION, SEATS_PER_ROW = 10, 50
CARD_OK, CARD_DECLINED = "4242424242424242", "4000000000000002"
DECLINE_RATE = 0.1
BEST_AVAILABLE_RATE = 0.3
GIVE_UP_AFTER_409S = 6
EMPTY_MAP_CHECKS = 3
POLL_SECONDS = 0.5
GA_POLL_SECONDS = 0.1
GA_CAPACITY = 2000
CPU_SAMPLER = ROOT.parent / "shared" / "tools" / "cpu_sampler.py"
REQUEST_TIMEOUT = 30.0
CLIENT_PROCESSES = 4
# kafka-python logs the partitions a consumer is given at INFO; the app leaves logging at WARNING. The command
# line names "pipeline dispatcher" as the Procfile's does, so that the CPU sampler counts it as the dispatcher.
DISPATCHER_BOOT = (
    "import logging, sys; logging.basicConfig(level=logging.WARNING); "
    "logging.getLogger('kafka.coordinator.consumer').setLevel(logging.INFO); "
    "from flask.cli import main; sys.argv = 'flask --app wsgi pipeline dispatcher'.split(); main()"
)


def rss_peak_mb(pid: int) -> float:
    """Peak RSS (VmHWM) of ``pid`` plus its descendants, e.g. a gunicorn master and its worker."""
    total = 0.0
    for each in process_tree(pid):
        with suppress(OSError):
            for line in Path(f"/proc/{each}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1]) / 1024
    return total


class SaleStack:
    """Every process of a deployment on this run's own database, Redis prefix, Kafka broker and mail dir."""

    def __init__(
        self,
        log_dir: Path,
        webs: int,
        workers: int,
        dispatchers: int,
        pg_admin_dsn: str = PG_ADMIN_DSN,
        pg_base_url: str = PG_BASE_URL,
        redis_url: str = REDIS_URL,
        extra_env: dict[str, str] | None = None,
        volume: bool = False,
    ):
        self.log_dir = log_dir
        self.volume = volume
        self.counts = (webs, workers, dispatchers)
        self.pg_admin_dsn = pg_admin_dsn
        self.redis_url = redis_url
        run = uuid.uuid4().hex[:8]
        self.db_name = f"atomicseats_sale_{run}"
        self.database_url = f"{pg_base_url}/{self.db_name}"
        self.mail_dir = log_dir / "mail"
        self.kafka = KafkaBroker(log_dir / "kafka")
        self.smtp_port = free_port()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "FLASK_"))}
        self.env.update(
            {
                "ATOMICSEATS_ENV": "testing",
                "DATABASE_URL": self.database_url,
                "REDIS_URL": redis_url,
                "REDIS_PREFIX": f"as-sale-{run}:",
                "SOCKETIO_MESSAGE_QUEUE": redis_url,
                "SECRET_KEY": secrets.token_hex(16),
                "KAFKA_BOOTSTRAP_SERVERS": self.kafka.bootstrap,
                "KAFKA_TOPIC_PREFIX": f"sale-{run}.",
                "KAFKA_CONSUMER_GROUP": f"sale-{run}-dispatcher",
                "MAIL_SERVER": "127.0.0.1",
                "MAIL_PORT": str(self.smtp_port),
                "HOLD_RATE_LIMIT": "1000000 per minute",
                "LOGIN_RATE_LIMIT": "1000000 per minute",
                "PYTHONPATH": str(ROOT),
                **(extra_env or {}),
            }
        )
        self.webs: list[tuple[Process, str]] = []
        self.workers: list[Process] = []
        self.others: list[Process] = []
        self._worker_serial = 0

    @property
    def urls(self) -> list[str]:
        return [url for _, url in self.webs]

    def start(self) -> None:
        admin = psycopg2.connect(self.pg_admin_dsn)
        admin.autocommit = True
        with admin.cursor() as cur:
            create_database(cur, self.db_name, self.env, self.volume)
        admin.close()
        subprocess.run([*FLASK, "db", "upgrade"], cwd=ROOT, env=self.env, check=True, capture_output=True)
        self.kafka.start()
        self.mail_dir.mkdir(exist_ok=True)
        smtp = [str(VENV_BIN / "python"), "-m", "atomicseats.smtp_sink", "--host", "127.0.0.1"]
        smtp += ["--port", str(self.smtp_port), "--dir", str(self.mail_dir)]
        self.others.append(Process("smtp", smtp, self.env, self.log_dir).start())
        wait_for(lambda: port_open(self.smtp_port), 15, "the SMTP sink")
        webs, workers, dispatchers = self.counts
        for i in range(webs):
            web_dir = self.log_dir / f"web-{i + 1}"
            web_dir.mkdir(exist_ok=True)
            self.webs.append(start_web(self.env, web_dir))
        self.others.append(Process("scheduler", [*FLASK, "pipeline", "scheduler"], self.env, self.log_dir).start())
        for i in range(dispatchers):
            argv = [str(VENV_BIN / "python"), "-c", DISPATCHER_BOOT]
            self.others.append(Process(f"dispatcher-{i + 1}", argv, self.env, self.log_dir).start())
        for _ in range(workers):
            self.start_worker()
        self.start_worker("notifications")
        # A consumer group takes seconds to form: measure the sale, not the pipeline's cold start.
        wait_for(
            lambda: "none" not in self.partitions_per_dispatcher().values(), 60, "every dispatcher to get partitions"
        )

    def start_worker(self, queue: str = "bookings") -> Process:
        """An RQ worker as the Procfile's ``worker:`` (bookings) or ``mailer:`` (notifications) line runs it."""
        self._worker_serial += 1
        prefix = self.env["REDIS_PREFIX"]
        argv = [str(VENV_BIN / "rq"), "worker", "--url", self.redis_url, "-w", "atomicseats.pipeline.worker.AppWorker"]
        argv += ["--maintenance-interval", "30", "--name", f"{prefix}worker-{self._worker_serial}"]
        if queue == "notifications":
            argv.append("--with-scheduler")
        argv.append(prefix + queue)
        proc = Process(f"rq-worker-{self._worker_serial}", argv, self.env, self.log_dir).start()
        self.workers.append(proc)
        return proc

    def processes(self) -> list[tuple[str, int]]:
        """(name, pid) of every live server process, the Kafka broker included."""
        named = [(f"web-{i + 1}", p) for i, (p, _) in enumerate(self.webs)] + [(p.name, p) for p in self.others]
        named += [(p.name, p) for p in self.workers]
        found = [(name, p.popen.pid) for name, p in named if p.alive()]
        pidfile = self.kafka.state_dir / f"tansu-{self.kafka.port}.pid"
        if pidfile.exists():
            found.append(("kafka (tansu)", int(pidfile.read_text().strip())))
        return found

    def peak_rss(self) -> dict[str, float]:
        return {name: rss_peak_mb(pid) for name, pid in self.processes()}

    def jobs_per_worker(self) -> dict[str, int]:
        from rq import Worker

        client = redis.Redis.from_url(self.redis_url)
        prefix = self.env["REDIS_PREFIX"]
        return {
            w.name.removeprefix(prefix): w.successful_job_count
            for w in Worker.all(connection=client)
            if w.name.startswith(prefix)
        }

    def partitions_per_dispatcher(self) -> dict[str, str]:
        """The last partition assignment each dispatcher logged (kafka-python's coordinator, at INFO)."""
        found = {}
        for proc in self.others:
            if proc.name.startswith("dispatcher"):
                logged = re.findall(r"Setting newly assigned partitions \{(.*)\} for group", proc.tail(400))
                pairs = re.findall(r"topic='[^']*?([\w-]+)', partition=(\d+)", logged[-1] if logged else "")
                by_topic: dict[str, list[str]] = {}
                for topic, partition in sorted(pairs):
                    by_topic.setdefault(topic, []).append(partition)
                found[proc.name] = " ".join(f"{t}[{','.join(p)}]" for t, p in by_topic.items()) or "none"
        return found

    def stop(self) -> None:
        for proc in [*self.workers, *reversed(self.others)]:
            proc.stop()
        for proc, _ in self.webs:
            proc.stop()
        with suppress(Exception):
            self.kafka.stop()
        with suppress(redis.RedisError):
            client = redis.Redis.from_url(self.redis_url)
            prefix = self.env["REDIS_PREFIX"]
            for pattern in (prefix + "*", f"rq:*{prefix}*"):
                for key in client.scan_iter(match=pattern, count=1000):
                    client.delete(key)
        admin = psycopg2.connect(self.pg_admin_dsn)
        admin.autocommit = True
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')
        admin.close()


@contextmanager
def sale_stack(log_dir: Path, webs: int = 1, workers: int = 1, dispatchers: int = 1, **kw: Any) -> Iterator[SaleStack]:
    stack = SaleStack(log_dir, webs, workers, dispatchers, **kw)
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()


def create_event(url: str, host_token: str, rows_per_section: int = ROWS_PER_SECTION) -> int:
    """The on-sale event: four sections of ``rows_per_section`` rows of fifty, dearest (best) first."""
    starts = datetime.now(UTC) + timedelta(days=30)
    body = {
        "name": "Flash sale night",
        "venue": "Bench Arena",
        "seating": "reserved",
        "starts_at": starts.isoformat(),
        "ends_at": (starts + timedelta(hours=3)).isoformat(),
        "sections": [
            {
                "name": name,
                "price_cents": price,
                "rows": [{"label": f"{name[0]}{s}R{r + 1}", "seats": SEATS_PER_ROW} for r in range(rows_per_section)],
            }
            for s, (name, price) in enumerate(SECTIONS)
        ],
    }
    return publish_new_event(url, host_token, body)


def publish_new_event(url: str, host_token: str, body: dict[str, Any]) -> int:
    client = Http(url)
    status, created, _ = client.call("POST", "/api/v1/events", host_token, body)
    assert status == 201, created
    status, published, _ = client.call("POST", f"/api/v1/events/{created['id']}/publish", host_token)
    assert status == 200, published
    client.close()
    return created["id"]


def create_ga_event(url: str, host_token: str, capacity: int = GA_CAPACITY) -> int:
    """The general-admission on-sale event: ``capacity`` places at one price."""
    starts = datetime.now(UTC) + timedelta(days=30)
    body = {
        "name": "General admission flash sale",
        "venue": "Bench Field",
        "seating": "general",
        "capacity": capacity,
        "price_cents": 5000,
        "starts_at": starts.isoformat(),
        "ends_at": (starts + timedelta(hours=3)).isoformat(),
    }
    return publish_new_event(url, host_token, body)


@dataclass
class Tally:
    """What one client process saw: per-request outcomes, and each 202's booking id and card."""

    hold_ms: list[float] = field(default_factory=list)
    final_ms: list[float] = field(default_factory=list)  # 202 -> the poll that saw confirmed or failed
    statuses: Counter = field(default_factory=Counter)
    bookings: dict[str, bool] = field(default_factory=dict)  # booking id -> paid with the declined card
    unanswered: list[str] = field(default_factory=list)
    bad_5xx: list[str] = field(default_factory=list)
    crashed: list[str] = field(default_factory=list)
    slowest_ms: float = 0.0
    requests: int = 0
    cpu_seconds: float = 0.0  # the client processes' own CPU (all their threads) from the go to their end


class Http:
    """One keep-alive HTTP/1.1 connection on a plain socket; a request that gets no answer is reported, never
    retried silently.

    The load generator shares the two cores with the server it measures, so its CPU is taken from the sale:
    ``http.client`` parses every answer's headers with the ``email`` package, which doubled the buyers' CPU per
    request. This client writes the request in one ``sendall`` and reads the answer by its Content-Length
    (every answer of the API and of gunicorn carries one). ``source`` is the loopback address
    the connection comes from: each buyer has its own, as each person has their own address.
    """

    def __init__(self, url: str, source: str | None = None):
        host, port = url.removeprefix("http://").split(":")
        self.address = (host, int(port))
        self.source = (source, 0) if source else None
        self.host_header = f"Host: {host}:{port}\r\n"
        self.sock: socket.socket | None = None
        self.buffer = b""

    def call(
        self, method: str, path: str, token: str, body: dict | None = None, key: str | None = None
    ) -> tuple[int | None, Any, dict[str, str]]:
        payload = json.dumps(body).encode() if body is not None else b""
        head = f"{method} {path} HTTP/1.1\r\n{self.host_header}Authorization: Bearer {token}\r\n"
        head += f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
        if key:
            head += f"Idempotency-Key: {key}\r\n"
        request = (head + "\r\n").encode() + payload
        for attempt in (1, 2):
            reused = self.sock is not None
            try:
                if self.sock is None:
                    self.sock = socket.create_connection(self.address, REQUEST_TIMEOUT, self.source)
                    self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self.sock.sendall(request)
                return self._answer()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                # The server closed an idle keep-alive connection as we reused it: a browser reconnects once.
                self.reconnect()
                if attempt == 2 or not reused:
                    raise
        raise AssertionError("unreachable")

    def _answer(self) -> tuple[int, Any, dict[str, str]]:
        while (end := self.buffer.find(b"\r\n\r\n")) < 0:
            self._receive(nothing_yet=not self.buffer)
        lines = self.buffer[:end].decode("latin-1").split("\r\n")
        self.buffer = self.buffer[end + 4 :]
        status = int(lines[0].split(" ", 2)[1])
        headers = dict(line.split(": ", 1) for line in lines[1:])
        length = int(next((v for k, v in headers.items() if k.lower() == "content-length"), 0))
        while len(self.buffer) < length:
            self._receive()
        raw, self.buffer = self.buffer[:length], self.buffer[length:]
        if any(k.lower() == "connection" and v.lower() == "close" for k, v in headers.items()):
            self.reconnect()
        return status, _body(raw), headers

    def _receive(self, nothing_yet: bool = False) -> None:
        assert self.sock is not None
        chunk = self.sock.recv(65536)
        if not chunk:
            if nothing_yet:
                raise http.client.RemoteDisconnected("closed before any answer")
            raise http.client.IncompleteRead(self.buffer)
        self.buffer += chunk

    def reconnect(self) -> None:
        self.close()

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
        self.sock, self.buffer = None, b""


class Buyer:
    """One browser tab: people arrive one after another until nothing is left to buy (or time is up)."""

    def __init__(
        self, url: str, source: str, token: str, event_id: int, deadline: float, tally: Tally, lock: threading.Lock
    ):
        self.http = Http(url, source)
        self.token = token
        self.event_id = event_id
        self.deadline = deadline
        self.tally = tally
        self.lock = lock
        self.rng = random.Random()
        self.order: list[tuple[int, str, int]] = []  # (seat id, row, number), best first
        self.free: set[int] = set()

    def request(self, method: str, path: str, body: dict | None = None, key: str | None = None) -> tuple:
        """Answer a request; a 503 is waited out (Retry-After) and asked again, like a browser would. A request
        with no answer (timeout) is counted, then asked again once if that is safe (a GET, or a POST with its
        Idempotency-Key, which replays the first answer)."""
        retried = False
        while time.monotonic() < self.deadline:
            started = time.perf_counter()
            try:
                status, data, headers = self.http.call(method, path, self.token, body, key)
            except (OSError, http.client.HTTPException) as exc:
                with self.lock:
                    self.tally.unanswered.append(f"{method} {path}: {type(exc).__name__}: {exc}")
                self.http.reconnect()
                if retried or (method == "POST" and key is None):
                    return None, None, (time.perf_counter() - started) * 1000
                retried = True
                continue
            elapsed = (time.perf_counter() - started) * 1000
            with self.lock:
                self.tally.requests += 1
                self.tally.slowest_ms = max(self.tally.slowest_ms, elapsed)
                self.tally.statuses[f"{method} {_label(path)} {status}"] += 1
                if status >= 500 and not (status == 503 and headers.get("Retry-After")):
                    self.tally.bad_5xx.append(f"{method} {path}: {status} {data}")
            if status == 503 and headers.get("Retry-After"):
                time.sleep(min(float(headers["Retry-After"]), 2.0))
                continue
            return status, data, elapsed
        return None, None, 0.0

    def load_map(self) -> tuple[int, int]:
        """The seat map as a person sees it on arrival: (available, held)."""
        status, data, _ = self.request("GET", f"/api/v1/events/{self.event_id}/seats")
        if status != 200:
            return 0, 0
        ranked = sorted(data["items"], key=lambda s: (-s["price_cents"], s["y"], s["number"]))
        self.order = [(s["id"], s["row_label"], s["number"]) for s in ranked]
        self.free = {s["id"] for s in ranked if s["status"] == "available"}
        return len(self.free), sum(1 for s in ranked if s["status"] == "held")

    def pick(self, quantity: int) -> list[int] | None:
        """A random block among the first twenty free blocks of ``quantity`` adjacent seats, best first."""
        blocks: list[list[int]] = []
        run: list[tuple[int, str, int]] = []
        for seat in self.order:
            if seat[0] in self.free and run and run[-1][1] == seat[1] and run[-1][2] + 1 == seat[2]:
                run.append(seat)
            else:
                run = [seat] if seat[0] in self.free else []
            if len(run) >= quantity:
                blocks.append([s[0] for s in run[-quantity:]])
                if len(blocks) == 20:
                    break
        return self.rng.choice(blocks) if blocks else None

    def run(self) -> None:
        try:
            self.shop()
        except Exception as exc:  # a crashed tab must fail the run, not vanish from the figures
            with self.lock:
                self.tally.crashed.append(f"{type(exc).__name__}: {exc}")
        finally:
            self.http.close()

    def shop(self) -> None:
        """Each person loads the seat map on arrival; the tab closes once the map shows nothing left."""
        empty_checks = 0
        while time.monotonic() < self.deadline:
            available, held = self.load_map()
            if available == 0:
                empty_checks += 1
                if held == 0 or empty_checks >= EMPTY_MAP_CHECKS:
                    return  # sold out, or nothing came back from holds that failed
                time.sleep(1.0)
                continue
            empty_checks = 0
            self.person()

    def person(self) -> None:
        quantity = self.rng.choice([1, 2, 2, 3, 4])
        refusals = 0
        hold = None
        while hold is None and refusals < GIVE_UP_AFTER_409S and time.monotonic() < self.deadline:
            if self.rng.random() < BEST_AVAILABLE_RATE:
                body: dict[str, Any] = {"quantity": quantity}
            else:
                seats = self.pick(quantity) or self.pick(1)
                if seats is None:
                    return
                body = {"seat_ids": seats}
            status, data, elapsed = self.request("POST", f"/api/v1/events/{self.event_id}/holds", body, _key())
            if status is None:
                return
            with self.lock:
                self.tally.hold_ms.append(elapsed)
            if status == 201:
                hold = data
                self.free.difference_update(s["id"] for s in data["seats"])
            elif status == 409:
                refusals += 1
                taken = (data["error"].get("details") or {}).get("unavailable_seat_ids") or body.get("seat_ids", [])
                self.free.difference_update(taken)
                time.sleep(self.rng.uniform(0.05, 0.3))  # reads the message, picks again
            else:
                return
        if hold is None:
            return
        time.sleep(self.rng.uniform(0.1, 0.5))  # types the card number
        self.pay(hold["id"], POLL_SECONDS)

    def pay(self, hold_id: str, poll_seconds: float) -> None:
        """Check out and poll until the booking is final. One card in ten is declined, and that person tries
        again with another card on the same hold (the hold lives on after a decline), as a person would. A
        checkout that got no answer is asked again with its Idempotency-Key until it is answered; one that is
        refused releases the hold, so its places go back at once instead of when the hold expires."""
        declined = self.rng.random() < DECLINE_RATE
        while time.monotonic() < self.deadline:
            card = {"card_number": CARD_DECLINED if declined else CARD_OK}
            body, key = {"hold_id": hold_id, "payment": card}, _key()
            status, booking, _ = self.request("POST", "/api/v1/bookings", body, key)
            while status is None and time.monotonic() < self.deadline:
                status, booking, _ = self.request("POST", "/api/v1/bookings", body, key)
            if status != 202:
                self.request("DELETE", f"/api/v1/holds/{hold_id}")
                return
            accepted = time.perf_counter()
            with self.lock:
                self.tally.bookings[booking["id"]] = declined
            polled: dict[str, Any] = {}
            while time.monotonic() < self.deadline:
                time.sleep(poll_seconds)
                status, polled, _ = self.request("GET", f"/api/v1/bookings/{booking['id']}")
                if status != 200 or polled["status"] != "pending":
                    with self.lock:
                        self.tally.final_ms.append((time.perf_counter() - accepted) * 1000)
                    break
            if not declined or status != 200 or polled.get("status") != "failed":
                return
            declined = False
            time.sleep(self.rng.uniform(0.1, 0.5))  # types another card number


class GaBuyer(Buyer):
    """The general-admission shape (module docstring): buy 1-4 places, poll every 100 ms, buy again."""

    def shop(self) -> None:
        while time.monotonic() < self.deadline:
            quantity = self.rng.randint(1, 4)
            status, data, elapsed = self.request(
                "POST", f"/api/v1/events/{self.event_id}/holds", {"quantity": quantity}
            )
            if status is None:
                return
            with self.lock:
                self.tally.hold_ms.append(elapsed)
            if status == 409:
                status, event, _ = self.request("GET", f"/api/v1/events/{self.event_id}")
                if status == 200 and event["availability"]["available"] == 0 and event["availability"]["held"] == 0:
                    return  # sold out
                time.sleep(self.rng.uniform(0.05, 0.3))
                continue
            if status != 201:
                return
            self.pay(data["id"], GA_POLL_SECONDS)


def _body(raw: bytes) -> Any:
    """JSON, or the raw text of an answer that is not (a proxy's or the server's own error page)."""
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return {"raw": raw[:300].decode(errors="replace")}


def _key() -> str:
    return uuid.uuid4().hex


def _label(path: str) -> str:
    """The resource a path names, without ids: ``/api/v1/events/7/holds`` -> ``holds``."""
    return next(p for p in reversed(path.split("/")) if p and not p[0].isdigit() and "-" not in p)


def _client_process(
    urls: list[str], tokens: list[str], offset: int, event_id: int, seconds: float, go, out, shape: str
) -> None:
    """``len(tokens)`` buyer threads; buyer ``offset + i`` talks to web process ``(offset + i) % len(urls)`` from a
    loopback address of its own."""
    tally, lock = Tally(), threading.Lock()
    go.wait()
    cpu_at_go = time.process_time()
    deadline = time.monotonic() + seconds
    kind = GaBuyer if shape == "ga" else Buyer
    buyers = [
        kind(
            urls[(offset + i) % len(urls)],
            f"127.{offset + 1}.{i // 250}.{i % 250 + 1}",
            token,
            event_id,
            deadline,
            tally,
            lock,
        )
        for i, token in enumerate(tokens)
    ]
    threads = [threading.Thread(target=b.run) for b in buyers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    tally.cpu_seconds = time.process_time() - cpu_at_go
    out.put(tally)


def run_sale(
    urls: list[str], tokens: list[str], event_id: int, seconds: float, shape: str = "reserved"
) -> tuple[Tally, float]:
    """Release every buyer at once; return what they saw together and how long the sale took."""
    processes = min(CLIENT_PROCESSES, len(tokens))
    go, out = mp.Event(), mp.Queue()
    shares = [tokens[i::processes] for i in range(processes)]
    procs = [
        mp.Process(target=_client_process, args=(urls, share, i, event_id, seconds, go, out, shape))
        for i, share in enumerate(shares)
    ]
    for p in procs:
        p.start()
    began = time.perf_counter()
    go.set()
    tallies = [out.get() for _ in procs]
    elapsed = time.perf_counter() - began
    for p in procs:
        p.join()
    total = Tally()
    for t in tallies:
        total.hold_ms += t.hold_ms
        total.final_ms += t.final_ms
        total.statuses += t.statuses
        total.bookings.update(t.bookings)
        total.unanswered += t.unanswered
        total.bad_5xx += t.bad_5xx
        total.crashed += t.crashed
        total.slowest_ms = max(total.slowest_ms, t.slowest_ms)
        total.requests += t.requests
        total.cpu_seconds += t.cpu_seconds
    return total, elapsed


def wait_settled(stack: SaleStack, event_id: int, timeout: float) -> float:
    """Seconds until no booking is pending and every confirmed booking's email is in the sink (or timeout)."""
    began = time.perf_counter()

    def settled() -> bool:
        with stack_connect(stack) as conn, conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM bookings WHERE event_id = %s AND status = 'pending'", (event_id,))
            if cur.fetchone()[0]:
                return False
            cur.execute("SELECT reference FROM bookings WHERE event_id = %s AND status = 'confirmed'", (event_id,))
            wanted = {r for (r,) in cur.fetchall()}
        return wanted <= set(confirmation_emails(stack.mail_dir))

    with suppress(TimeoutError):
        wait_for(settled, timeout, "every booking final and emailed", interval=0.5)
    return time.perf_counter() - began


@contextmanager
def stack_connect(stack: SaleStack) -> Iterator[Any]:
    conn = psycopg2.connect(stack.database_url, connect_timeout=5)
    try:
        yield conn
    finally:
        conn.close()


# Each email file's confirmed booking reference (or None), read once: the settle check asks every half second,
# and re-reading every email in the sink made settling grow with each sale of a --sales run.
_REFERENCES: dict[Path, str | None] = {}


def confirmation_emails(mail_dir: Path) -> Counter:
    """Booking reference -> number of "confirmed" emails in the sink."""
    found: Counter = Counter()
    for path in mail_dir.glob("*.eml"):
        if path not in _REFERENCES:
            with path.open("rb") as fh:
                subject = BytesHeaderParser(policy=email.policy.default).parse(fh)["Subject"] or ""
            match = re.match(r"Booking (\S+) confirmed", subject)
            _REFERENCES[path] = match.group(1) if match else None
        if (reference := _REFERENCES[path]) is not None:
            found[reference] += 1
    return found


def audit(stack: SaleStack, event_id: int, accepted: dict[str, bool]) -> dict[str, Any]:
    """The promises, checked in PostgreSQL and the mail sink; ``ok`` is False if any is broken."""
    with stack_connect(stack) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM (SELECT bs.seat_id FROM booking_seats bs JOIN bookings b ON b.id = bs.booking_id "
            "WHERE b.event_id = %s AND b.status = 'confirmed' GROUP BY bs.seat_id HAVING count(*) > 1) d",
            (event_id,),
        )
        seats_in_two = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM seats WHERE event_id = %s AND booking_id IS NOT NULL", (event_id,))
        seats_sold = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM seats WHERE event_id = %s", (event_id,))
        capacity = cur.fetchone()[0]
        cur.execute(
            "SELECT coalesce(sum(b.quantity), 0), count(*) FROM bookings b WHERE b.event_id = %s "
            "AND b.status = 'confirmed'",
            (event_id,),
        )
        seats_confirmed, confirmed = cur.fetchone()
        cur.execute(
            "SELECT count(*) FROM bookings b WHERE b.event_id = %s AND b.status = 'confirmed' AND ("
            "b.quantity <> (SELECT count(*) FROM booking_seats bs WHERE bs.booking_id = b.id AND bs.active) OR "
            "b.quantity <> (SELECT count(*) FROM seats s WHERE s.booking_id = b.id) OR "
            "b.total_cents <> (SELECT coalesce(sum(price_cents), 0) FROM booking_seats bs WHERE bs.booking_id = b.id))",
            (event_id,),
        )
        malformed = cur.fetchone()[0]
        cur.execute(
            "SELECT id::text, status, failure_reason, reference, "
            "extract(epoch FROM confirmed_at - created_at) * 1000 FROM bookings WHERE event_id = %s",
            (event_id,),
        )
        rows = cur.fetchall()
    status_of = {r[0]: r[1] for r in rows}
    wrong_outcome = [
        (bid, status_of.get(bid))
        for bid, declined in accepted.items()
        if status_of.get(bid) != ("failed" if declined else "confirmed")
    ]
    emails = confirmation_emails(stack.mail_dir)
    references = [r[3] for r in rows if r[1] == "confirmed"]
    result = {
        "bookings accepted (202)": len(accepted),
        "confirmed": confirmed,
        "failed": sum(1 for r in rows if r[1] == "failed"),
        "pending": sum(1 for r in rows if r[1] == "pending"),
        "seats sold": seats_sold,
        "capacity": capacity,
        "seats in confirmed bookings": seats_confirmed,
        "seats in two confirmed bookings": seats_in_two,
        "confirmed bookings with wrong seats/total": malformed,
        "202s not ended as their card says": len(wrong_outcome),
        "bookings nobody got a 202 for": len(set(status_of) - set(accepted)),
        "confirmed without email": sum(1 for ref in references if not emails[ref]),
        "duplicate confirmation emails": sum(n - 1 for ref, n in emails.items() if n > 1),
        "confirm_ms": [r[4] for r in rows if r[1] == "confirmed"],
    }
    result["ok"] = (
        seats_in_two == 0
        and seats_sold == seats_confirmed <= capacity
        and malformed == 0
        and not wrong_outcome
        and result["bookings nobody got a 202 for"] == 0
        and result["pending"] == 0
        and result["confirmed without email"] == 0
    )
    if wrong_outcome:
        result["examples of wrong outcomes"] = wrong_outcome[:5]
    return result


def confirm_hops(stack: SaleStack, event_id: int) -> dict[str, list[float]]:
    """Where each confirmed booking's 202 -> confirmed went, in ms per hop, from PostgreSQL and the RQ jobs.

    ``relay picked it``: the 202 until the relay's transaction took the outbox row; ``to RQ``: Kafka, the
    dispatcher and its batch, until the job was enqueued; ``in the queue``: until a worker started the job;
    ``in the job``: until this booking was confirmed (a batch confirms its bookings in turn). Bookings whose
    job is gone (a re-drive confirmed them) are left out. ``relay round``: the time from one relay transaction
    to the next (each stamps all the rows it sends with its start).
    """
    with stack_connect(stack) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT b.id::text, extract(epoch FROM b.created_at), extract(epoch FROM o.sent_at), "
            "extract(epoch FROM b.confirmed_at) FROM bookings b JOIN outbox o ON o.topic = 'booking-requests' "
            "AND o.payload->>'booking_id' = b.id::text WHERE b.event_id = %s AND b.status = 'confirmed'",
            (event_id,),
        )
        rows = cur.fetchall()
    client = redis.Redis.from_url(stack.redis_url)
    prefix = stack.env["REDIS_PREFIX"]
    job_ids = client.mget([f"{prefix}dispatched:{r[0]}" for r in rows]) if rows else []
    with client.pipeline(transaction=False) as pipe:
        for job_id in job_ids:
            pipe.hmget(b"rq:job:" + (job_id or b"none"), "enqueued_at", "started_at")
        stamps = pipe.execute()
    hops: dict[str, list[float]] = {"relay picked it": [], "to RQ": [], "in the queue": [], "in the job": []}
    # One relay transaction stamps all its rows with one sent_at: the gaps between stamps are its rounds.
    rounds = sorted({float(r[2]) for r in rows if r[2] is not None})
    hops["relay round"] = [(b - a) * 1000 for a, b in itertools.pairwise(rounds)]
    for (_, created, sent, confirmed), (enqueued, started) in zip(rows, stamps, strict=True):
        if not (enqueued and started and sent):
            continue
        enqueued_s, started_s = (_rq_time(enqueued), _rq_time(started))
        for name, ms in zip(
            list(hops)[:4],
            (float(sent - created), enqueued_s - float(sent), started_s - enqueued_s, float(confirmed) - started_s),
            strict=True,
        ):
            hops[name].append(ms * 1000)
    return hops


def _rq_time(value: bytes) -> float:
    return datetime.strptime(value.decode(), "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()


def report(
    title: str, tally: Tally, sale_seconds: float, settle_seconds: float, result: dict, stack: SaleStack
) -> None:
    holds_ok = sum(n for k, n in tally.statuses.items() if k.startswith("POST holds 201"))
    holds_409 = sum(n for k, n in tally.statuses.items() if k.startswith("POST holds 409"))
    confirm_ms = result.pop("confirm_ms")
    duration = sale_seconds + settle_seconds
    print(f"\n{title}")
    print(
        f"  duration                 {duration:8.1f} s (buyers {sale_seconds:.1f} s + settling {settle_seconds:.1f} s)"
    )
    print(f"  hold requests            {len(tally.hold_ms):8d} ({holds_ok} x 201, {holds_409} x 409)")
    rate = len(tally.hold_ms) / sale_seconds
    print(f"  holds/s                  {holds_ok / sale_seconds:8.1f} (hold requests {rate:.1f}/s)")
    print(f"  checkouts/s (confirmed)  {result['confirmed'] / duration:8.1f}")
    print(f"  hold p50 / p99           {percentile(tally.hold_ms, 50):8.1f} / {percentile(tally.hold_ms, 99):.1f} ms")
    print(
        f"  202->confirmed p50 / p99 {percentile(confirm_ms, 50):8.1f} / {percentile(confirm_ms, 99):.1f} ms (server)"
    )
    if tally.final_ms:
        final_p = f"{percentile(tally.final_ms, 50):8.1f} / {percentile(tally.final_ms, 99):.1f} ms"
        print(f"  202->final p50 / p99     {final_p} (client)")
    print(f"  409 rate                 {holds_409 / max(1, len(tally.hold_ms)):8.1%}")
    print(f"  requests                 {tally.requests:8d} (slowest {tally.slowest_ms:.0f} ms)")
    per_request = tally.cpu_seconds * 1000 / max(1, tally.requests)
    print(f"  load generator CPU       {tally.cpu_seconds:8.1f} s ({per_request:.2f} ms a request)")
    print(f"  unanswered (timed out)   {len(tally.unanswered):8d}")
    print(f"  5xx other than 503+Retry-After {len(tally.bad_5xx):2d}")
    print(f"  503 + Retry-After        {sum(n for k, n in tally.statuses.items() if k.endswith(' 503')):8d}")
    print(f"  crashed buyers           {len(tally.crashed):8d}")
    for line in (tally.unanswered + tally.bad_5xx + tally.crashed)[:5]:
        print(f"    e.g. {line}")
    hops = result.pop("confirm_hops")
    counted = len(hops["in the job"])
    print(f"  202->confirmed by hop, p50 / p99 (server, {counted} bookings):")
    for name, values in hops.items():
        print(f"    {name:22} {percentile(values, 50):8.1f} / {percentile(values, 99):.1f} ms")
    print("  peak RSS (VmHWM)         " + ", ".join(f"{n} {mb:.0f} MB" for n, mb in stack.peak_rss().items()))
    print("  jobs per RQ worker       " + ", ".join(f"{n}: {c}" for n, c in stack.jobs_per_worker().items()))
    for name, parts in stack.partitions_per_dispatcher().items():
        print(f"  {name} partitions   {parts}")
    print("  audit")
    for key, value in result.items():
        print(f"    {key:42} {value}")


def prepare(stack: SaleStack, buyers: int, rows_per_section: int = ROWS_PER_SECTION) -> tuple[int, list[str]]:
    """The event and the buyers' tokens (bulk-inserted: hashing a password per user would dominate)."""
    host_token, tokens = prepare_users(stack, buyers)
    return create_event(stack.urls[0], host_token, rows_per_section), tokens


def prepare_users(stack: SaleStack, buyers: int) -> tuple[str, list[str]]:
    with stack_connect(stack) as conn:
        ((_, host_token),) = make_users(conn, 1, role="host")
        tokens = [t for _, t in make_users(conn, buyers)]
    return host_token, tokens


@contextmanager
def cpu_sampling(log_dir: Path) -> Iterator[Any]:
    """CPU seconds per process group (../shared/tools/cpu_sampler.py), if the probe is there."""
    if not CPU_SAMPLER.exists():
        yield None
        return
    path = log_dir / "cpu.tsv"
    sampler = subprocess.Popen([sys.executable, str(CPU_SAMPLER), str(path)])
    try:
        yield path
    finally:
        sampler.terminate()
        sampler.wait()


def cpu_report(path: Path | None, t0: float, t1: float) -> str:
    if path is None:
        return "(no ../shared/tools/cpu_sampler.py)"
    out = subprocess.run([sys.executable, str(CPU_SAMPLER), "report", str(path), str(t0), str(t1)], capture_output=True)
    return out.stdout.decode().strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", choices=["reserved", "ga"], default="reserved")
    parser.add_argument("--buyers", type=int, default=400)
    parser.add_argument("--sales", type=int, default=1, help="sales one after another on the same database")
    parser.add_argument("--volume", action="store_true", help=f"start from a copy of {VOLUME_TEMPLATE} (history)")
    parser.add_argument("--web", type=int, default=1, help="web (gunicorn) processes; buyers are spread round robin")
    parser.add_argument(
        "--workers", type=int, default=2, help="RQ workers on the bookings queue, as dev.sh runs them (plus one mailer)"
    )
    parser.add_argument("--dispatchers", type=int, default=1, help="Kafka dispatcher processes (one consumer group)")
    parser.add_argument("--max-seconds", type=float, default=300.0, help="the buyers stop after this long")
    args = parser.parse_args()

    failed = False
    with (
        tempfile.TemporaryDirectory() as tmp,
        sale_stack(Path(tmp), args.web, args.workers, args.dispatchers, volume=args.volume) as stack,
        cpu_sampling(Path(tmp)) as cpu_file,
    ):
        host_token, tokens = prepare_users(stack, args.buyers)
        for sale in range(1, args.sales + 1):
            if args.shape == "ga":
                event_id = create_ga_event(stack.urls[0], host_token)
            else:
                event_id = create_event(stack.urls[0], host_token)
            t0 = time.time()
            tally, sale_seconds = run_sale(stack.urls, tokens, event_id, args.max_seconds, args.shape)
            t1 = time.time()
            settle_seconds = wait_settled(stack, event_id, timeout=180)
            result = audit(stack, event_id, tally.bookings)
            result["confirm_hops"] = confirm_hops(stack, event_id)
            title = (
                f"AtomicSeats flash sale {sale}/{args.sales} ({args.shape}"
                f"{', volume database' if args.volume else ', empty database'}) — {platform.node()}, "
                f"{os.cpu_count()} cores, {time.strftime('%Y-%m-%d %H:%M')}: {args.buyers} buyers, {args.web} web "
                f"(gunicorn.conf.py workers each), {args.workers} RQ workers, {args.dispatchers} dispatchers"
            )
            report(title, tally, sale_seconds, settle_seconds, result, stack)
            print("  CPU seconds during the sale\n    " + cpu_report(cpu_file, t0, t1).replace("\n", "\n    "))
            failed = failed or not result["ok"] or bool(tally.bad_5xx) or bool(tally.crashed) or not tally.bookings
    if failed:
        print("AUDIT FAILED")
        sys.exit(1)
    print("audit passed: nothing oversold, lost or doubled")


if __name__ == "__main__":
    main()
