"""The outbox relay: publish committed outbox rows to Kafka, then mark them sent.

A row is marked sent only after the broker acknowledged it (``acks=all``), in the transaction that locked it,
so a crash in between publishes it again (consumers are idempotent on the message id). ``FOR UPDATE SKIP
LOCKED`` lets two relays run side by side without publishing a row twice at the same time.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable

from flask import Flask, current_app
from sqlalchemy import text

from atomicseats.booking.tx import transaction
from atomicseats.extensions import db, kafka_ext

log = logging.getLogger(__name__)
BATCH = 500


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


def run(
    app: Flask,
    stop: threading.Event,
    idle_seconds: float = 0.02,
    on_recovered: Callable[[], None] | None = None,
) -> None:
    """Relay until ``stop``; on a Kafka failure drop the producer and back off (up to 5 s), then try again.

    ``on_recovered`` is called when Kafka answers again after an outage (the broker may have restarted
    empty, so a consumer in this process should rejoin rather than trust its old offsets).
    """
    from atomicseats.pipeline.topics import ensure_topics

    backoff = 0.0
    with app.app_context():
        while not stop.is_set():
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
                stop.wait(idle_seconds)
