"""Chaos: one fault at a time during a smaller flash sale; after each the full audit must pass.

Usage: ``.venv/bin/python bench/chaos.py [--buyers 40] [--services private|shared]``

One stack (``bench/flash_sale.py``'s, with two RQ workers and a re-drive after 10 s), and for each step a fresh
event of 1,000 seats and fresh buyers. Once 30 bookings are confirmed, the fault is injected:

1. ``worker``: kill -9 an RQ worker (whatever job it was running dies with it), start a new one 3 s later;
2. ``redis``: stop Redis and start it again empty (it runs without persistence, so a restart flushes it);
3. ``kafka``: stop the Kafka broker for 20 s (memory storage: it comes back without topics or offsets);
4. ``postgres``: stop PostgreSQL (fast shutdown: connections are cut) and start it 5 s later.

Pass means: the audit of ``flash_sale.py`` holds (nothing oversold, every 202 ended as its card says, every
confirmed booking emailed, no booking nobody asked for), and every request got an answer, any 5xx being a 503
with ``Retry-After``. Buyers treat a 503 as a browser would (wait, ask again with the same Idempotency-Key).
A small supervisor restarts any pipeline process that exits, as docker-compose's restart policy would.

``--services private`` (the default) runs Redis and PostgreSQL instances of this run's own on free ports, so
restarting them cannot hurt anyone else on the machine. ``--services shared`` restarts the machine's own
PostgreSQL cluster and Redis (STACK.md's commands): every other user of them loses connections and every
Redis key, so it warns first and always brings them back.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.flash_sale import SaleStack, audit, percentile, prepare, run_sale, stack_connect, wait_settled
from bench.stack import PG_ADMIN_DSN, PG_BASE_URL, REDIS_URL
from tests.services import Process, free_port, wait_for

PG_VERSION = sorted(os.listdir("/usr/lib/postgresql"))[-1]
PG_BIN = Path("/usr/lib/postgresql") / PG_VERSION / "bin"
ROWS_PER_SECTION = 5  # 4 sections x 5 rows x 50 = 1,000 seats per step: the sale outlasts the longest fault
FAULT_AFTER_CONFIRMED = 30  # the fault comes once bookings are being confirmed, so it hits work in flight
SALE_SECONDS = 150.0
KAFKA_DOWN_SECONDS = 20.0
POSTGRES_DOWN_SECONDS = 5.0
REDIS_DOWN_SECONDS = 3.0
WORKER_DOWN_SECONDS = 3.0


def pg_ready(port: int) -> bool:
    return subprocess.run(["pg_isready", "-q", "-h", "127.0.0.1", "-p", str(port)]).returncode == 0


def redis_ready(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_timeout=1).ping())
    except redis.RedisError:
        return False


class PrivateServices:
    """redis-server and a PostgreSQL cluster of this run's own (trust auth, loopback only, no persistence)."""

    def __init__(self, root: Path):
        self.root = root
        self.redis_port = free_port()
        self.pg_port = free_port()
        self.pg_dir = root / "pg"
        self.redis: Process | None = None
        self.redis_url = f"redis://127.0.0.1:{self.redis_port}/0"
        self.pg_admin_dsn = f"host=127.0.0.1 port={self.pg_port} user=postgres dbname=postgres"
        self.pg_base_url = f"postgresql://postgres@127.0.0.1:{self.pg_port}"

    def start(self) -> None:
        self.start_redis()
        self.init_postgres()

    def init_postgres(self) -> None:
        """A new cluster in ``root/pg``, started (tests/pipeline/test_postgres_restart.py uses it alone)."""
        self.pg_dir.mkdir()
        shutil.chown(self.pg_dir, "postgres", "postgres")
        self.root.chmod(0o755)
        initdb = [str(PG_BIN / "initdb"), "-D", str(self.pg_dir), "-A", "trust", "-U", "postgres", "--no-sync"]
        subprocess.run(["runuser", "-u", "postgres", "--", *initdb], check=True, capture_output=True)
        self.start_postgres()

    def start_redis(self) -> None:
        argv = ["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly"]
        self.redis = Process("redis", [*argv, "no"], dict(os.environ), self.root).start()
        wait_for(lambda: redis_ready(self.redis_url), 10, "the run's Redis")

    def stop_redis(self) -> None:
        assert self.redis is not None
        self.redis.stop()

    def _pg_ctl(self, action: str) -> None:
        options = f"-p {self.pg_port} -k {self.pg_dir} -c listen_addresses=127.0.0.1 -c max_connections=200"
        argv = [str(PG_BIN / "pg_ctl"), "-D", str(self.pg_dir), "-w", "-m", "fast", "-l", str(self.pg_dir / "log")]
        subprocess.run(["runuser", "-u", "postgres", "--", *argv, "-o", options, action], check=True)

    def start_postgres(self) -> None:
        self._pg_ctl("start")
        wait_for(lambda: pg_ready(self.pg_port), 20, "the run's PostgreSQL")

    def stop_postgres(self) -> None:
        self._pg_ctl("stop")

    def close(self) -> None:
        if pg_ready(self.pg_port):
            self.stop_postgres()
        if self.redis is not None:
            self.redis.stop()


class SharedServices:
    """The machine's PostgreSQL cluster and Redis, restarted with STACK.md's commands."""

    redis_url = REDIS_URL
    pg_admin_dsn = PG_ADMIN_DSN
    pg_base_url = PG_BASE_URL
    pg_port = 5432
    redis_start = [
        "redis-server",
        "--daemonize",
        "yes",
        "--bind",
        "127.0.0.1",
        "-::1",
        "--port",
        "6379",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        "/var/lib/redis",
        "--logfile",
        "/var/log/redis/ci.log",
    ]

    def start(self) -> None:
        print("WARNING: --services shared restarts this machine's PostgreSQL and Redis. Every other user loses")
        print("         their connections, and Redis comes back EMPTY (it runs with --save ''). Starting in 5 s.")
        time.sleep(5)

    def start_redis(self) -> None:
        subprocess.run(self.redis_start, check=True)
        wait_for(lambda: redis_ready(self.redis_url), 10, "the machine's Redis")

    def stop_redis(self) -> None:
        subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", "6379", "shutdown", "nosave"], check=False)
        wait_for(lambda: not redis_ready(self.redis_url), 10, "the machine's Redis to stop")

    def _cluster(self, action: str) -> None:
        cluster = ["pg_ctlcluster", "--skip-systemctl-redirect", PG_VERSION, "main", action]
        subprocess.run(cluster + (["-m", "fast"] if action == "stop" else []), check=True)

    def start_postgres(self) -> None:
        self._cluster("start")
        wait_for(lambda: pg_ready(self.pg_port), 30, "the machine's PostgreSQL")

    def stop_postgres(self) -> None:
        self._cluster("stop")

    def close(self) -> None:
        """Whatever happened, leave both services running."""
        if not redis_ready(self.redis_url):
            self.start_redis()
        if not pg_ready(self.pg_port):
            self.start_postgres()


class Supervisor(threading.Thread):
    """Restart pipeline processes that exit (a worker may die with its Redis connection), as compose would."""

    def __init__(self, stack: SaleStack):
        super().__init__(daemon=True)
        self.stack = stack
        self.restarts: list[str] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(0.5):
            for proc in [*self.stack.others, *self.stack.workers]:
                if not proc.alive():
                    proc.stop()  # closes its log
                    proc.start()
                    self.restarts.append(proc.name)


def kill_worker(stack: SaleStack, _services: Any) -> None:
    """SIGKILL the first worker while it runs a job (RQ keeps each worker's state in Redis), then replace it."""
    from rq import Worker

    victim = stack.workers.pop(0)
    key = f"rq:worker:{stack.env['REDIS_PREFIX']}worker-{victim.name.rsplit('-', 1)[1]}"
    client = redis.Redis.from_url(stack.redis_url)
    with suppress(TimeoutError):
        wait_for(lambda: Worker.find_by_key(key, connection=client).state == "busy", 10, "a busy worker", 0.01)
    print(
        f"    kill -9 {victim.name} (pid {victim.popen.pid}), state: {Worker.find_by_key(key, connection=client).state}"
    )
    victim.kill()
    victim.stop()
    time.sleep(WORKER_DOWN_SECONDS)
    stack.start_worker()


def restart_redis(_stack: SaleStack, services: Any) -> None:
    services.stop_redis()
    time.sleep(REDIS_DOWN_SECONDS)
    services.start_redis()


def stop_kafka(stack: SaleStack, _services: Any) -> None:
    stack.kafka.stop()
    time.sleep(KAFKA_DOWN_SECONDS)
    stack.kafka.start()


def restart_postgres(_stack: SaleStack, services: Any) -> None:
    services.stop_postgres()
    time.sleep(POSTGRES_DOWN_SECONDS)
    services.start_postgres()


STEPS: list[tuple[str, Callable[[SaleStack, Any], None]]] = [
    ("kill -9 an RQ worker, new one after 3 s", kill_worker),
    ("restart Redis, data flushed (3 s down)", restart_redis),
    ("stop Kafka for 20 s", stop_kafka),
    ("restart PostgreSQL (5 s down)", restart_postgres),
]


def _confirmed(stack: SaleStack, event_id: int) -> int:
    with stack_connect(stack) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM bookings WHERE event_id = %s AND status = 'confirmed'", (event_id,))
        return cur.fetchone()[0]


def run_step(name: str, fault: Callable, stack: SaleStack, services: Any, buyers: int, sup: Supervisor) -> dict:
    """One sale with one fault in it, then the audit of that sale's event."""
    event_id, tokens = prepare(stack, buyers, ROWS_PER_SECTION)
    outcome: dict[str, Any] = {}

    def sale() -> None:
        outcome["tally"], outcome["seconds"] = run_sale(stack.urls, tokens, event_id, SALE_SECONDS)

    restarts_before = len(sup.restarts)
    buyers_thread = threading.Thread(target=sale)
    buyers_thread.start()
    wait_for(lambda: _confirmed(stack, event_id) >= FAULT_AFTER_CONFIRMED, 60, "confirmations to flow", interval=0.1)
    print(f"  step: {name}")
    began, fault_from = time.perf_counter(), datetime.now(UTC)
    fault(stack, services)
    fault_seconds, fault_to = time.perf_counter() - began, datetime.now(UTC)
    buyers_thread.join()
    settle = wait_settled(stack, event_id, timeout=180)
    tally = outcome["tally"]
    result = audit(stack, event_id, tally.bookings)
    confirm_ms = result.pop("confirm_ms")
    with stack_connect(stack) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM bookings WHERE event_id = %s AND created_at BETWEEN %s AND %s",
            (event_id, fault_from, fault_to),
        )
        during_fault = cur.fetchone()[0]
    row = {
        "step": name,
        "fault s": round(fault_seconds, 1),
        "sale s": round(outcome["seconds"], 1),
        "settle s": round(settle, 1),
        "202s": result["bookings accepted (202)"],
        "202s during fault": during_fault,
        "confirmed": result["confirmed"],
        "failed": result["failed"],
        "sold/seats": f"{result['seats sold']}/{result['capacity']}",
        "requests": tally.requests,
        "503+RA": sum(n for k, n in tally.statuses.items() if k.endswith(" 503")),
        "unanswered": len(tally.unanswered),
        "bad 5xx": len(tally.bad_5xx),
        "slowest ms": round(tally.slowest_ms),
        "202->conf p99 ms": round(percentile(confirm_ms, 99)),
        "restarts": ", ".join(sup.restarts[restarts_before:]) or "-",
        "audit": "pass" if result["ok"] and not (tally.unanswered or tally.bad_5xx or tally.crashed) else "FAIL",
    }
    for line in (tally.unanswered + tally.bad_5xx + tally.crashed)[:5]:
        print(f"    e.g. {line}")
    if row["audit"] == "FAIL":
        print(f"    audit: {result}")
    print("    " + ", ".join(f"{k}: {v}" for k, v in row.items() if k != "step"))
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--buyers", type=int, default=40)
    parser.add_argument("--services", choices=["private", "shared"], default="private")
    parser.add_argument("--log-dir", type=Path, help="keep every process's log here (default: a temporary dir)")
    args = parser.parse_args()

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = args.log_dir or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        services = PrivateServices(root) if args.services == "private" else SharedServices()
        services.start()
        stack = SaleStack(
            root,
            webs=1,
            workers=2,
            dispatchers=1,
            pg_admin_dsn=services.pg_admin_dsn,
            pg_base_url=services.pg_base_url,
            redis_url=services.redis_url,
            extra_env={"REDRIVE_AFTER_SECONDS": "10"},
        )
        supervisor = Supervisor(stack)
        try:
            stack.start()
            supervisor.start()
            print(f"AtomicSeats chaos — {platform.node()}, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}")
            print(f"{args.buyers} buyers per step, 1,000 seats per step, services: {args.services}")
            for name, fault in STEPS:
                rows.append(run_step(name, fault, stack, services, args.buyers, supervisor))
        finally:
            supervisor.stopping.set()
            supervisor.join()
            try:
                stack.stop()
            finally:
                services.close()

    print(
        "\n| step | fault s | 202s (during fault) | confirmed | failed | sold/seats | 202->confirmed p99 ms "
        "| 503+Retry-After | unanswered | audit |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['step']} | {r['fault s']} | {r['202s']} ({r['202s during fault']}) | {r['confirmed']} "
            f"| {r['failed']} | {r['sold/seats']} | {r['202->conf p99 ms']} | {r['503+RA']} | {r['unanswered']} "
            f"| {r['audit']} |"
        )
    if any(r["audit"] != "pass" for r in rows):
        print("CHAOS AUDIT FAILED")
        sys.exit(1)
    print("every step passed: nothing oversold, lost or doubled; every request answered")


if __name__ == "__main__":
    main()
