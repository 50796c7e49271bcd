"""The outbox relay: publish committed outbox rows to Kafka, then mark them sent.

A row is marked sent only after the broker acknowledged it (``acks=all``), in the transaction that locked it,
so a crash in between publishes it again (consumers are idempotent on the message id). ``FOR UPDATE SKIP
LOCKED`` lets two relays run side by side without publishing a row twice at the same time.

The relay sleeps until a transaction that wrote outbox rows commits: migration 0013's trigger notifies
:data:`CHANNEL`, and :class:`Wakeups` listens on a connection of its own.
"""

from __future__ import annotations

import json
import logging
import select
import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg2
from flask import Flask, current_app
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from atomicseats.booking.tx import transaction
from atomicseats.extensions import db, kafka_ext

log = logging.getLogger(__name__)
BATCH = 500
CHANNEL = "atomicseats_outbox"
# The longest the relay sleeps without a notification. A safety net only: while the LISTEN connection is up no
# notification is lost, and a new connection counts as a wake-up, so the relay looks at once after an outage.
FALLBACK_SECONDS = 1.0
# At most one round per this long. Under load a round then takes every row committed since the last one, as
# when the relay polled; woken for each commit, it made a round (a Kafka round trip and two statements) per
# booking, and cost the dispatcher more CPU per booking than polling. At rest the first commit goes at once.
ROUND_SECONDS = 0.02


def relay_once(limit: int = BATCH) -> int:
    """Publish up to ``limit`` unsent rows; returns how many were sent. Raises if Kafka does not acknowledge."""
    timeout = current_app.config["KAFKA_REQUEST_TIMEOUT_MS"] / 1000
    with transaction() as session:
        rows = session.execute(
            text(
                "SELECT id, message_id, topic, key, payload FROM outbox WHERE sent_at IS NULL "
                "ORDER BY id LIMIT :n FOR UPDATE SKIP LOCKED"
            ),
            {"n": limit},
        ).all()
        if not rows:
            return 0
        producer = kafka_ext.producer()
        futures = [
            producer.send(
                kafka_ext.topic(row.topic),
                key=row.key,
                value=json.dumps(row.payload),
                headers=[("message_id", str(row.message_id).encode())],
            )
            for row in rows
        ]
        producer.flush(timeout=timeout)
        for future in futures:
            future.get(timeout=timeout)
        session.execute(
            text("UPDATE outbox SET sent_at = now(), attempts = attempts + 1 WHERE id = ANY(:ids)"),
            {"ids": [row.id for row in rows]},
        )
    return len(rows)


class Wakeups:
    """The relay's own LISTEN connection (autocommit, never back to the pool).

    The relay used to look for rows every 20 ms: fifty transactions a second for PostgreSQL and the dispatcher
    even when nothing happens, and up to 20 ms more on every booking's way to Kafka.
    """

    def __init__(self, engine: Engine, stop: threading.Event) -> None:
        self.engine = engine
        self.stop = stop
        self.connection: Any = None

    def wait(self, timeout: float) -> bool:
        """True once a transaction that wrote outbox rows has committed, or at once on a new connection (rows may
        have come while there was none); False after ``timeout`` without either. Without PostgreSQL it waits
        ``timeout`` (or until stopped) and says False."""
        try:
            if self.connection is None:
                self.connection = self._listen()
                return True
            if not select.select([self.connection], [], [], timeout)[0]:
                return False
            self.connection.poll()
            self.connection.notifies.clear()
            return True
        except (psycopg2.Error, DBAPIError, OSError) as exc:
            log.warning("relay: no LISTEN connection (%s); looking every %.1f s until there is one", exc, timeout)
            self.close()
            self.stop.wait(timeout)
            return False

    def _listen(self) -> Any:
        pooled = self.engine.raw_connection()
        pooled.detach()
        connection = pooled.dbapi_connection
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(f"LISTEN {CHANNEL}")
        return connection

    def close(self) -> None:
        if self.connection is not None:
            try:
                self.connection.close()
            except psycopg2.Error:
                log.debug("relay: closing the LISTEN connection failed", exc_info=True)
            self.connection = None


def run(
    app: Flask,
    stop: threading.Event,
    fallback_seconds: float = FALLBACK_SECONDS,
    on_recovered: Callable[[], None] | None = None,
) -> None:
    """Relay until ``stop``, at most one round per :data:`ROUND_SECONDS`, sleeping while there is nothing to
    send until a commit wakes it (or ``fallback_seconds``); on a Kafka failure drop the producer and back off
    (up to 5 s), then try again.

    ``on_recovered`` is called when Kafka answers again after an outage (the broker may have restarted
    empty, so a consumer in this process should rejoin rather than trust its old offsets).
    """
    from atomicseats.pipeline.topics import ensure_topics

    backoff = 0.0
    last_round = 0.0
    with app.app_context():
        wakeups = Wakeups(db.engine, stop)
        while not stop.is_set():
            if (pause := last_round + ROUND_SECONDS - time.monotonic()) > 0:
                stop.wait(pause)
            last_round = time.monotonic()
            try:
                if backoff:
                    ensure_topics()  # a restarted in-memory broker has lost its topics
                sent = relay_once()
                if backoff and on_recovered is not None:
                    on_recovered()
                backoff = 0.0
            except Exception as exc:
                db.session.rollback()
                try:
                    kafka_ext.reset_producer()
                except Exception:  # closing a producer that cannot reach its broker may time out too
                    log.debug("relay: closing the producer failed", exc_info=True)
                backoff = min(max(backoff * 2, 0.25), 5.0)
                log.warning("relay: Kafka unavailable (%s); retrying in %.2f s", exc, backoff)
                stop.wait(backoff)
                continue
            finally:
                db.session.remove()
            if not sent:
                wakeups.wait(fallback_seconds)
        wakeups.close()
