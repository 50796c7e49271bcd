"""The scheduler process: periodic engine work that must not wait for a request to arrive.

Every tick it ends holds whose time is up (their seats were already free to every reader, this makes
the change visible to seat maps within a second) and rebuilds any event's Redis gate that has gone
missing (Redis was wiped). A full reconciliation runs on a longer period. It also re-drives bookings left
pending from PostgreSQL and offers free places to waitlists whose allocation message was lost
(``pipeline/recovery.py``), lets the next people out of each waiting room (``booking/waiting_room.py``), and
deletes bookkeeping rows older than their retention (``booking/retention.py``). Events whose end has passed
are stored as ``ended`` (``inventory.end_past_events``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from flask import Flask

from atomicseats.booking import hold_endings, inventory, reconcile, retention, waiting_room
from atomicseats.extensions import db
from atomicseats.pipeline import recovery

log = logging.getLogger(__name__)


@dataclass
class Task:
    name: str
    every: float
    run: Callable[[], object]
    next_at: float = 0.0


def default_tasks(app: Flask) -> list[Task]:
    cfg = app.config
    return [
        Task("expire_holds", cfg.get("EXPIRY_INTERVAL_SECONDS", 0.25), hold_endings.expire_due),
        Task("rebuild_missing_gates", 2.0, lambda: reconcile.reconcile_all(only_missing=True)),
        Task("reconcile", cfg["RECONCILE_INTERVAL_SECONDS"], reconcile.reconcile_all),
        Task("redrive_pending_bookings", cfg.get("REDRIVE_INTERVAL_SECONDS", 1.0), recovery.redrive_stale),
        Task("redrive_lost_emails", cfg.get("EMAIL_REDRIVE_INTERVAL_SECONDS", 5.0), recovery.redrive_lost_emails),
        Task("allocate_waitlists", cfg.get("WAITLIST_SWEEP_SECONDS", 5.0), recovery.allocate_waitlists),
        Task("admit_waiting_rooms", cfg["WAITING_ROOM_TICK_SECONDS"], waiting_room.tick),
        Task("end_past_events", 5.0, inventory.end_past_events),
        Task(
            "prune",
            600,
            lambda: retention.prune(
                timedelta(seconds=cfg["OUTBOX_RETENTION_SECONDS"]),
                timedelta(seconds=cfg["IDEMPOTENCY_KEY_RETENTION_SECONDS"]),
                timedelta(seconds=cfg["API_TOKEN_RETENTION_SECONDS"]),
            ),
        ),
    ]


def run(app: Flask, tasks: list[Task] | None = None, stop: threading.Event | None = None) -> None:
    """Run ``tasks`` until ``stop`` is set; one task failing (say, Redis down) does not stop the others."""
    stop = stop or threading.Event()
    with app.app_context():
        tasks = tasks or default_tasks(app)
        log.info("scheduler running: %s", ", ".join(t.name for t in tasks))
        while not stop.is_set():
            now = time.monotonic()
            for task in tasks:
                if now >= task.next_at:
                    task.next_at = now + task.every
                    try:
                        task.run()
                    except Exception:
                        db.session.rollback()
                        log.exception("scheduler task %s failed", task.name)
                    finally:
                        db.session.remove()
            stop.wait(max(0.0, min(t.next_at for t in tasks) - time.monotonic()))
