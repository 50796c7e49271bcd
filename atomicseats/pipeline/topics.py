"""Create the Kafka topics with the partition count we want (broker auto-creation would pick its own)."""

from __future__ import annotations

import contextlib
import logging

from flask import current_app

from atomicseats.booking.outbox import TOPICS
from atomicseats.extensions import kafka_ext

log = logging.getLogger(__name__)


def ensure_topics() -> list[str]:
    """Create any missing topic (prefixed) with ``KAFKA_PARTITIONS`` partitions; returns those created."""
    from kafka.admin import KafkaAdminClient, NewTopic
    from kafka.errors import TopicAlreadyExistsError

    cfg = current_app.config
    admin = KafkaAdminClient(
        bootstrap_servers=cfg["KAFKA_BOOTSTRAP_SERVERS"].split(","),
        request_timeout_ms=cfg["KAFKA_REQUEST_TIMEOUT_MS"],
        bootstrap_timeout_ms=cfg["KAFKA_REQUEST_TIMEOUT_MS"],
    )
    try:
        existing = set(admin.list_topics())
        wanted = [kafka_ext.topic(name) for name in TOPICS]
        missing = [name for name in wanted if name not in existing]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):  # another process made them first
                admin.create_topics(
                    [NewTopic(name, cfg["KAFKA_PARTITIONS"], 1) for name in missing],
                    timeout_ms=cfg["KAFKA_REQUEST_TIMEOUT_MS"],
                )
            log.info("created Kafka topics %s", ", ".join(missing))
        return missing
    finally:
        admin.close()
