"""The Kafka dispatcher: a consumer-group member that turns each message into an RQ job.

Offsets are committed by hand, only after every job of the batch is safely in Redis; a crash before that
replays the batch, and the job ids (derived from the booking or message id) make the replay enqueue
nothing new. The same process runs the outbox relay in a second thread (it is the process that talks to
Kafka anyway, and a slow broker then never delays the scheduler's hold expiry).
"""

from __future__ import annotations

import json
import logging
import threading
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


def dispatch(topic: str, payload: dict[str, Any], message_id: str) -> bool:
    """Enqueue the job for one message (unprefixed topic name); False when it was there already."""
    if topic == outbox.BOOKING_REQUESTS:
        return jobs.enqueue_confirm(payload["booking_id"], message_id, payload.get("request_id"))
    if topic == outbox.NOTIFICATIONS:
        return jobs.enqueue_notification(payload, message_id)
    if topic == outbox.WAITLIST_ALLOCATION:
        return jobs.enqueue_allocation(payload["event_id"], message_id)
    log.warning("dispatcher: no route for topic %s", topic)
    return False


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
    )
    consumer.subscribe([kafka_ext.topic(name) for name in outbox.TOPICS])
    return consumer


def _rewind_to_committed(consumer: Any) -> None:
    """Kafka came back after an outage, perhaps as a new empty broker whose offsets restart at 0: go back to
    the committed offsets (or the beginning, when the broker has none), not on from remembered positions.
    Replayed messages are harmless: their jobs exist already."""
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
                batch = consumer.poll(timeout_ms=200)
                enqueued = 0
                for records in batch.values():
                    for record in records:
                        payload = json.loads(record.value)
                        enqueued += dispatch(record.topic[prefix_len:], payload, _message_id(record))
                if batch:
                    consumer.commit()
                    log.debug("dispatcher: %d messages, %d new jobs", sum(map(len, batch.values())), enqueued)
            except Exception as exc:
                log.warning("dispatcher: %s; reconnecting", exc)
                if consumer is not None:
                    _close(consumer)
                    consumer = None
                stop.wait(1.0)
        if consumer is not None:
            _close(consumer)
    if relay_thread is not None:
        relay_thread.join(timeout=5)
