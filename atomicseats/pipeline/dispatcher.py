"""The Kafka dispatcher: a consumer-group member that turns messages into RQ jobs, a batch per queue.

What a poll brings is one job per queue (``jobs.enqueue_confirms``, ``jobs.enqueue_notifications``). While a
queue already has a job waiting, its worker could not start a new one sooner anyway, so the dispatcher keeps
polling and adds to the batch until that job is taken (or the batch is full, or old): under load the
batches grow with the backlog, and at rest every message goes out alone at once
(docs/decisions/0024-pipeline-batches.md).

Offsets are committed by hand, only after every message polled so far is in a job safely in Redis; a crash
before that replays them, and the dispatch marks (``jobs._enqueue_batch``) make the replay enqueue nothing
new. The same process runs the outbox relay in a second thread (it is the process that talks to Kafka
anyway, and a slow broker then never delays the scheduler's hold expiry).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

from flask import Flask, current_app

from atomicseats.booking import outbox
from atomicseats.extensions import kafka_ext
from atomicseats.pipeline import jobs, relay

log = logging.getLogger(__name__)


def _message_id(record: Any) -> str:
    for name, value in record.headers or []:
        if name == "message_id":
            return value.decode()
    return f"{record.topic}-{record.partition}-{record.offset}"  # a message from outside the outbox


class Batch:
    """Messages polled but not yet enqueued, by topic (unprefixed), in arrival order."""

    MAX_MESSAGES = 200
    MAX_AGE_SECONDS = 1.0

    def __init__(self) -> None:
        self.messages: dict[str, list[tuple[dict[str, Any], str]]] = {}
        self.started = 0.0

    def __len__(self) -> int:
        return sum(map(len, self.messages.values()))

    def add(self, topic: str, payload: dict[str, Any], message_id: str) -> None:
        if not self.messages:
            self.started = time.monotonic()
        self.messages.setdefault(topic, []).append((payload, message_id))

    def due(self) -> bool:
        """Enqueue now: full, old, or one of its queues has no job waiting (its worker would idle for it)."""
        if not self.messages:
            return False
        if len(self) >= self.MAX_MESSAGES or time.monotonic() - self.started >= self.MAX_AGE_SECONDS:
            return True
        return any(jobs.queue(_QUEUE_OF.get(topic, jobs.BOOKINGS_QUEUE)).count == 0 for topic in self.messages)

    def enqueue(self) -> int:
        """One job per queue for everything held; returns how many messages got a job (repeats get none)."""
        enqueued = 0
        for topic, messages in self.messages.items():
            if topic == outbox.BOOKING_REQUESTS:
                enqueued += jobs.enqueue_confirms(messages)
            elif topic == outbox.NOTIFICATIONS:
                enqueued += jobs.enqueue_notifications(messages)
            elif topic == outbox.WAITLIST_ALLOCATION:  # rare, and one run allocates every free place
                enqueued += sum(jobs.enqueue_allocation(p["event_id"], m) for p, m in messages)
            else:
                log.warning("dispatcher: no route for topic %s", topic)
        self.messages.clear()
        return enqueued


_QUEUE_OF = {outbox.NOTIFICATIONS: jobs.NOTIFICATIONS_QUEUE}


def _consumer() -> Any:
    from kafka import KafkaConsumer

    cfg = current_app.config
    consumer = KafkaConsumer(
        bootstrap_servers=cfg["KAFKA_BOOTSTRAP_SERVERS"].split(","),
        group_id=cfg["KAFKA_CONSUMER_GROUP"],
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=cfg["KAFKA_SESSION_TIMEOUT_MS"],
        heartbeat_interval_ms=cfg["KAFKA_HEARTBEAT_INTERVAL_MS"],
        request_timeout_ms=max(cfg["KAFKA_REQUEST_TIMEOUT_MS"], cfg["KAFKA_SESSION_TIMEOUT_MS"] + 1000),
        bootstrap_timeout_ms=cfg["KAFKA_REQUEST_TIMEOUT_MS"],
        metadata_max_age_ms=5000,  # notice re-created topics quickly after a broker restart
        fetch_max_wait_ms=50,
        max_poll_records=500,
        metrics_enabled=False,  # nothing reads kafka-python's own metrics; a sensor per record cost CPU
    )
    consumer.subscribe([kafka_ext.topic(name) for name in outbox.TOPICS])
    return consumer


def _rewind_to_committed(consumer: Any) -> None:
    """Kafka came back after an outage, perhaps as a new empty broker whose offsets restart at 0: go back to
    the committed offsets (or the beginning, when the broker has none), not on from remembered positions.
    Replayed messages are harmless: their dispatch marks are in Redis already."""
    for tp in consumer.assignment():
        committed = consumer.committed(tp)
        if committed is None:
            consumer.seek_to_beginning(tp)
        else:
            consumer.seek(tp, committed)
    log.warning(
        "dispatcher: Kafka was unavailable; rewound %d partitions to committed offsets", len(consumer.assignment())
    )


def _close(consumer: Any) -> None:
    try:
        consumer.close(autocommit=False)
    except Exception:
        log.debug("dispatcher: closing the consumer failed", exc_info=True)


def run(app: Flask, stop: threading.Event, with_relay: bool = True) -> None:
    """Consume until ``stop``. Any failure (Kafka or Redis) drops the consumer uncommitted and starts over."""
    from atomicseats.pipeline.topics import ensure_topics

    rejoin = threading.Event()
    relay_thread = None
    if with_relay:
        relay_thread = threading.Thread(
            target=relay.run, args=(app, stop), kwargs={"on_recovered": rejoin.set}, name="outbox-relay", daemon=True
        )
        relay_thread.start()
    prefix_len = len(app.config["KAFKA_TOPIC_PREFIX"])
    consumer = None
    batch = Batch()
    with app.app_context():
        while not stop.is_set():
            try:
                if rejoin.is_set():
                    rejoin.clear()
                    if consumer is not None:
                        _rewind_to_committed(consumer)
                if consumer is None:
                    ensure_topics()
                    consumer = _consumer()
                    log.info("dispatcher: consuming as group %s", app.config["KAFKA_CONSUMER_GROUP"])
                polled = consumer.poll(timeout_ms=20 if batch.messages else 200)
                for records in polled.values():
                    for record in records:
                        batch.add(record.topic[prefix_len:], json.loads(record.value), _message_id(record))
                if batch.due():
                    held = len(batch)
                    enqueued = batch.enqueue()
                    consumer.commit()
                    log.debug("dispatcher: %d messages, %d enqueued", held, enqueued)
            except Exception as exc:
                log.warning("dispatcher: %s; reconnecting", exc)
                batch = Batch()  # uncommitted: the new consumer polls these again
                if consumer is not None:
                    _close(consumer)
                    consumer = None
                stop.wait(1.0)
        if consumer is not None:
            _close(consumer)
    if relay_thread is not None:
        relay_thread.join(timeout=5)
