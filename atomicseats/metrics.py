"""``GET /metrics`` in Prometheus text format.

Two kinds of series, because AtomicSeats runs as several processes:

- Per web process: requests and their latency per endpoint. Each web process is its own scrape target; its
  gunicorn workers (one per CPU) share their counters through prometheus_client's multiprocess files
  (``PROMETHEUS_MULTIPROC_DIR``, set by gunicorn.conf.py), so whichever worker answers reports them all.
- Site-wide, read at scrape time from where the truth lives: holds made and expired and bookings by outcome
  from PostgreSQL (holds expire in the scheduler and bookings confirm in RQ workers, where a web counter would
  never see them), outbox lag from PostgreSQL, RQ queue depth from Redis, and the dispatcher group's Kafka lag
  (committed offsets against end offsets). Any web process answers the same figures. A source that does not
  answer gives ``atomicseats_metrics_source_up{source} 0`` instead of failing the scrape.
"""

from __future__ import annotations

import hmac
import logging
import os
import threading
import time
from collections.abc import Iterator

from flask import Blueprint, Flask, Response, current_app, g, request
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from rq import Queue
from sqlalchemy import text

from atomicseats.booking import outbox, waiting_room
from atomicseats.extensions import db, kafka_ext, redis_ext
from atomicseats.pipeline.jobs import BOOKINGS_QUEUE, NOTIFICATIONS_QUEUE

log = logging.getLogger(__name__)
bp = Blueprint("metrics", __name__)
_STATE = "atomicseats.metrics"
_kafka_lock = threading.Lock()

_HOLDS = text("SELECT count(*) AS made, count(*) FILTER (WHERE status = 'expired') AS expired FROM holds")
_BOOKINGS = text("SELECT status, count(*) AS n FROM bookings GROUP BY status")
_OUTCOMES = text(
    """
    SELECT CASE WHEN confirmed_at IS NOT NULL THEN 'confirmed' ELSE 'failed' END AS outcome,
           COALESCE(failure_reason, '') AS reason, count(*) AS n
    FROM bookings WHERE confirmed_at IS NOT NULL OR status = 'failed' GROUP BY 1, 2
    """
)
_ADMISSIONS = text(
    """
    SELECT count(*) AS admitted,
           count(*) FILTER (WHERE admitted_at > now() - interval '1 minute') AS last_minute,
           count(*) FILTER (WHERE used_at IS NULL AND expires_at <= now()) AS abandoned
    FROM queue_admissions
    """
)
_OUTBOX = text(
    "SELECT count(*) AS unsent, COALESCE(EXTRACT(EPOCH FROM now() - min(created_at)), 0) AS age "
    "FROM outbox WHERE sent_at IS NULL"
)


def init_app(app: Flask) -> None:
    registry = CollectorRegistry(auto_describe=True)
    app.extensions[_STATE] = {
        "registry": registry,
        "requests": Counter(
            "atomicseats_http_requests",
            "HTTP requests answered by this web process.",
            ["method", "endpoint", "status"],
            registry=registry,
        ),
        "latency": Histogram(
            "atomicseats_http_request_duration_seconds",
            "Time to answer a request, in this web process.",
            ["method", "endpoint"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=registry,
        ),
    }
    registry.register(SiteCollector(app))
    app.before_request(_start_timer)
    app.after_request(_observe)
    app.register_blueprint(bp)


def _start_timer() -> None:
    g.metrics_started = time.perf_counter()


def _observe(response: Response) -> Response:
    started = g.get("metrics_started")
    if started is not None:
        state = current_app.extensions[_STATE]
        endpoint = request.endpoint or "unmatched"  # a label per route, never per raw path
        state["requests"].labels(request.method, endpoint, str(response.status_code)).inc()
        state["latency"].labels(request.method, endpoint).observe(time.perf_counter() - started)
    return response


@bp.get("/metrics")
def metrics():
    expected = current_app.config["METRICS_TOKEN"]
    if expected:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected.encode()):
            return Response(
                "Send the metrics token: Authorization: Bearer <METRICS_TOKEN>.\n",
                401,
                {"WWW-Authenticate": 'Bearer realm="metrics"'},
                mimetype="text/plain",
            )
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        registry.register(SiteCollector(current_app._get_current_object()))
    else:
        registry = current_app.extensions[_STATE]["registry"]
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)


class SiteCollector:
    """Site-wide figures, read when Prometheus scrapes (inside the /metrics request's app context)."""

    def __init__(self, app: Flask):
        self.app = app

    def describe(self) -> list[Metric]:
        return []  # collected on demand only; describing would query the services at registration

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "atomicseats_metrics_source_up", "1 when the source answered this scrape.", labels=["source"]
        )
        for source, collect in (
            ("postgresql", self._postgres),
            ("redis", self._rq),
            ("kafka", self._kafka_lag),
            ("waiting_room", self._waiting_rooms),
        ):
            try:
                yield from list(collect())
                up.add_metric([source], 1)
            except Exception as exc:  # a scrape reports a source that is down; it does not fail
                log.warning("metrics: %s unavailable: %s", source, exc)
                up.add_metric([source], 0)
        yield up

    def _postgres(self) -> Iterator[Metric]:
        try:
            holds = db.session.execute(_HOLDS).one()
            bookings = db.session.execute(_BOOKINGS).all()
            outcomes = db.session.execute(_OUTCOMES).all()
            pending = db.session.execute(_OUTBOX).one()
        finally:
            db.session.rollback()
        yield CounterMetricFamily("atomicseats_holds_created", "Holds ever made.", value=holds.made)
        yield CounterMetricFamily("atomicseats_holds_expired", "Holds that ran out of time.", value=holds.expired)
        by_status = GaugeMetricFamily("atomicseats_bookings", "Bookings now in each status.", labels=["status"])
        for row in bookings:
            by_status.add_metric([row.status], row.n)
        yield by_status
        by_outcome = CounterMetricFamily(
            "atomicseats_booking_outcomes",
            "Bookings that reached an outcome (confirmed, even if cancelled later; or failed, by reason).",
            labels=["outcome", "reason"],
        )
        for row in outcomes:
            by_outcome.add_metric([row.outcome, row.reason], row.n)
        yield by_outcome
        yield GaugeMetricFamily("atomicseats_outbox_unsent", "Outbox rows not yet published.", value=pending.unsent)
        yield GaugeMetricFamily(
            "atomicseats_outbox_oldest_unsent_age_seconds",
            "Age of the oldest unpublished outbox row (0 when none).",
            value=float(pending.age),
        )

    def _waiting_rooms(self) -> Iterator[Metric]:
        """Waiting rooms: people in line per event (Redis), admissions and abandoned turns (PostgreSQL)."""
        lengths = waiting_room.queue_lengths()
        try:
            admissions = db.session.execute(_ADMISSIONS).one()
        finally:
            db.session.rollback()
        length = GaugeMetricFamily(
            "atomicseats_waiting_room_length", "People in an event's waiting room, not yet admitted.", labels=["event"]
        )
        for event_id, n in sorted(lengths.items()):
            length.add_metric([str(event_id)], n)
        yield length
        yield CounterMetricFamily(
            "atomicseats_waiting_room_admitted", "People ever admitted from a waiting room.", value=admissions.admitted
        )
        yield GaugeMetricFamily(
            "atomicseats_waiting_room_admitted_last_minute",
            "People admitted in the last minute, across waiting rooms.",
            value=admissions.last_minute,
        )
        yield CounterMetricFamily(
            "atomicseats_waiting_room_abandoned",
            "Admissions that lapsed unused: the turn passed to the next in line.",
            value=admissions.abandoned,
        )

    def _rq(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily("atomicseats_rq_queue_depth", "Jobs waiting in each RQ queue.", labels=["queue"])
        failed = GaugeMetricFamily(
            "atomicseats_rq_failed_jobs", "Jobs in each queue's failed registry.", labels=["queue"]
        )
        for name in (BOOKINGS_QUEUE, NOTIFICATIONS_QUEUE):
            queue = Queue(current_app.config["REDIS_PREFIX"] + name, connection=redis_ext.client)
            depth.add_metric([name], queue.count)
            failed.add_metric([name], queue.failed_job_registry.count)
        yield depth
        yield failed

    def _kafka_lag(self) -> Iterator[Metric]:
        """Committed offsets of the dispatcher's group against each partition's end offset, summed per topic.

        ``describe_groups`` fails on Tansu; ``list_group_offsets`` (OffsetFetch) and ``end_offsets`` (ListOffsets)
        work on it and on Apache Kafka alike. A partition the group never committed counts from its beginning.
        """
        from kafka import TopicPartition

        group = current_app.config["KAFKA_CONSUMER_GROUP"]
        committed = kafka_ext.admin().list_group_offsets({group: None}).get(group, {})
        consumer = kafka_ext.offsets_consumer()
        timeout = current_app.config["KAFKA_REQUEST_TIMEOUT_MS"]
        with _kafka_lock:
            partitions = [
                TopicPartition(topic, p)
                for topic in (kafka_ext.topic(name) for name in outbox.TOPICS)
                for p in sorted(consumer.partitions_for_topic(topic) or ())
            ]
            ends = consumer.end_offsets(partitions, timeout_ms=timeout) if partitions else {}
            starts = consumer.beginning_offsets(partitions, timeout_ms=timeout) if partitions else {}
        lag = GaugeMetricFamily(
            "atomicseats_kafka_consumer_lag",
            "Messages not yet committed by the dispatcher's consumer group, per topic.",
            labels=["group", "topic"],
        )
        prefix = len(current_app.config["KAFKA_TOPIC_PREFIX"])
        totals: dict[str, int] = {}
        for tp in partitions:
            mark = committed.get(tp)
            done = mark.offset if mark is not None and mark.offset >= 0 else starts.get(tp, 0)
            totals[tp.topic[prefix:]] = totals.get(tp.topic[prefix:], 0) + max(0, ends.get(tp, 0) - done)
        for topic, value in sorted(totals.items()):
            lag.add_metric([group, topic], value)
        yield lag
