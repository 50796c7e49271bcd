"""A throwaway stack for benchmarks: its own database, Redis prefix and web server, like the test harness.

Benchmarks print figures; they never assert on speed. Correctness (no oversell) is audited after each run.
"""

from __future__ import annotations

import hashlib
import os
import platform
import secrets
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg2
import psycopg2.extras

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.services import VENV_BIN, Process, start_web  # noqa: E402

PG_ADMIN_DSN = os.environ.get("BENCH_PG_ADMIN_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres")
PG_BASE_URL = os.environ.get("BENCH_PG_BASE_URL", "postgresql://postgres@127.0.0.1:5432")
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
VOLUME_TEMPLATE = "atomicseats_volume"
FLASK = [str(VENV_BIN / "flask"), "--app", "wsgi"]


def create_database(cur: Any, name: str, env: dict[str, str], volume: bool) -> None:
    """``CREATE DATABASE name``: empty, or (``volume``) a copy of ``atomicseats_volume``, years of history made
    once with ``flask seed-volume`` (about 12 minutes on 2 cores) when it does not exist yet. The caller runs
    ``flask db upgrade`` on it either way."""
    template = ""
    if volume:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (VOLUME_TEMPLATE,))
        if cur.fetchone() is None:
            print(f"creating {VOLUME_TEMPLATE} with flask seed-volume (once; about 12 minutes on 2 cores)", flush=True)
            cur.execute(f'CREATE DATABASE "{VOLUME_TEMPLATE}"')
            seed_env = {**env, "DATABASE_URL": f"{PG_BASE_URL}/{VOLUME_TEMPLATE}"}
            subprocess.run([*FLASK, "db", "upgrade"], cwd=ROOT, env=seed_env, check=True, capture_output=True)
            subprocess.run([*FLASK, "seed-volume"], cwd=ROOT, env=seed_env, check=True)
        template = f' TEMPLATE "{VOLUME_TEMPLATE}"'
    cur.execute(f'CREATE DATABASE "{name}"{template}')


@dataclass
class Stack:
    url: str
    database_url: str
    env: dict[str, str]
    web: Process

    def connect(self):
        return psycopg2.connect(self.database_url)


@contextmanager
def bench_stack(
    log_dir: Path,
    extra_env: dict[str, str] | None = None,
    extra_args: list[str] | None = None,
    volume: bool = False,
) -> Iterator[Stack]:
    """Create and migrate a database (empty, or with history: ``volume``), start gunicorn as the Procfile does
    (``extra_args`` only for an A/B of another server), tear everything down after."""
    run = uuid.uuid4().hex[:8]
    name = f"atomicseats_bench_{run}"
    admin = psycopg2.connect(PG_ADMIN_DSN)
    admin.autocommit = True
    database_url = f"{PG_BASE_URL}/{name}"
    env = dict(os.environ)
    env.update(
        {
            "ATOMICSEATS_ENV": "testing",
            "DATABASE_URL": database_url,
            "REDIS_URL": REDIS_URL,
            "REDIS_PREFIX": f"as-bench-{run}:",
            "SOCKETIO_MESSAGE_QUEUE": REDIS_URL,
            "SECRET_KEY": secrets.token_hex(16),
            "KAFKA_TOPIC_PREFIX": f"bench-{run}.",
            "HOLD_RATE_LIMIT": "100000 per minute",
            "LOGIN_RATE_LIMIT": "100000 per minute",
            "PYTHONPATH": str(ROOT),
            **(extra_env or {}),
        }
    )
    with admin.cursor() as cur:
        create_database(cur, name, env, volume)
    web = None
    try:
        subprocess.run([*FLASK, "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True)
        web, url = start_web(env, log_dir, extra_args)
        yield Stack(url, database_url, env, web)
    finally:
        if web is not None:
            web.stop()
        import redis

        client = redis.Redis.from_url(REDIS_URL)
        for key in client.scan_iter(match=env["REDIS_PREFIX"] + "*", count=1000):
            client.delete(key)
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def make_users(conn, count: int, role: str = "attendee") -> list[tuple[int, str]]:
    """Insert ``count`` users with bearer tokens in bulk (hashing a password per user would dominate the setup)."""
    from werkzeug.security import generate_password_hash

    password_hash = generate_password_hash("bench-password-1")
    tag = uuid.uuid4().hex[:6]
    with conn.cursor() as cur:
        rows = psycopg2.extras.execute_values(
            cur,
            "INSERT INTO users (email, name, password_hash, role) VALUES %s RETURNING id",
            [(f"bench{tag}-{i}@example.com", f"Buyer {i}", password_hash, role) for i in range(count)],
            fetch=True,
        )
        tokens = [secrets.token_urlsafe(32) for _ in rows]
        expires = datetime.now(UTC) + timedelta(hours=2)
        psycopg2.extras.execute_values(
            cur,
            "INSERT INTO api_tokens (user_id, token_hash, expires_at) VALUES %s",
            [(uid, hashlib.sha256(t.encode()).hexdigest(), expires) for (uid,), t in zip(rows, tokens, strict=True)],
        )
    conn.commit()
    return [(uid, t) for (uid,), t in zip(rows, tokens, strict=True)]


TICKS = os.sysconf("SC_CLK_TCK")


def process_tree(pid: int) -> list[int]:
    """``pid`` and its live descendants (a gunicorn master's worker, RQ's forked scheduler)."""
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        with suppress(OSError):  # gone meanwhile
            for task in Path(f"/proc/{current}/task").iterdir():
                pending.extend(int(c) for c in (task / "children").read_text().split())
    return found


def cpu_seconds(pid: int, descendants: bool = False) -> float:
    """User + system CPU time ``pid`` (and with ``descendants``, its live descendants) used so far; 0 once gone."""
    total = 0.0
    for each in process_tree(pid) if descendants else [pid]:
        with suppress(OSError):
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / TICKS
    return total


def rounds_after_warm_up(count: int, one_round: Callable[[], dict[str, float]]) -> list[dict[str, float]]:
    """``count`` rounds of ``one_round``, after one more whose figures are dropped: it warms the processes up
    (connections, prepared statements, imports)."""
    one_round()
    return [one_round() for _ in range(count)]


def print_medians(title: str, rounds: list[dict[str, float]], unit: str = "") -> None:
    """The title with this machine and the time, then one line per figure: its median over the rounds, then each
    round's value."""
    print(f"{title} — {platform.node()}, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d %H:%M')}")
    width = max(map(len, rounds[0]))
    for name in rounds[0]:
        values = [r[name] for r in rounds]
        each = ", ".join(f"{v:.2f}" for v in values)
        print(f"  {name:<{width}} {statistics.median(values):7.2f}{unit}  (rounds: {each})")


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]
