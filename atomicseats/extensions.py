"""Extension objects, created unbound here and bound to the app in ``create_app``."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import redis
from flask import Config, Flask, current_app
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_mail import Mail
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import DateTime, MetaData
from sqlalchemy.orm import DeclarativeBase, registry

from atomicseats.booking.locks import bound_lock_waits
from atomicseats.booking.settings import BookingSettings

# Constraint names follow one convention so that Alembic migrations can refer to them.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Every datetime column is ``timestamptz``: the app works in UTC, the database keeps the zone."""

    registry = registry(
        metadata=MetaData(naming_convention=NAMING),
        type_annotation_map={datetime: DateTime(timezone=True)},
    )


# Objects stay readable after commit: the engine commits mid-request and then still reads ids it already has,
# which would otherwise cost a reload query each time.
db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
mail = Mail()
limiter = Limiter(key_func=get_remote_address)


class RedisExtension:
    """One connection pool per process, plus the key prefix that namespaces a deployment or a test run."""

    def init_app(self, app: Flask) -> None:
        app.extensions["atomicseats.redis"] = redis.Redis.from_url(
            app.config["REDIS_URL"],
            socket_timeout=5,
            socket_connect_timeout=2,
            health_check_interval=30,
        )

    @property
    def client(self) -> redis.Redis:
        return current_app.extensions["atomicseats.redis"]

    @staticmethod
    def key(*parts: object) -> str:
        return current_app.config["REDIS_PREFIX"] + ":".join(str(p) for p in parts)


class KafkaExtension:
    """A lazily created producer: ``KafkaProducer()`` connects in its constructor, so never at import time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def init_app(self, app: Flask) -> None:
        app.extensions["atomicseats.kafka"] = {"producer": None, "admin": None, "offsets": None}

    @staticmethod
    def topic(name: str) -> str:
        return current_app.config["KAFKA_TOPIC_PREFIX"] + name

    def _client(self, name: str, make: Callable[[Config], Any]) -> Any:
        """This process's client ``name``, made by ``make(app.config)`` on first use (it connects as it is made)."""
        state = current_app.extensions["atomicseats.kafka"]
        with self._lock:
            if state[name] is None:
                state[name] = make(current_app.config)
            return state[name]

    def producer(self):
        from kafka import KafkaProducer

        return self._client(
            "producer",
            lambda cfg: KafkaProducer(
                bootstrap_servers=cfg["KAFKA_BOOTSTRAP_SERVERS"].split(","),
                acks="all",
                linger_ms=2,
                request_timeout_ms=cfg["KAFKA_REQUEST_TIMEOUT_MS"],
                max_block_ms=cfg["KAFKA_REQUEST_TIMEOUT_MS"],
                bootstrap_timeout_ms=cfg["KAFKA_REQUEST_TIMEOUT_MS"],
                key_serializer=lambda k: str(k).encode(),
                value_serializer=lambda v: v if isinstance(v, bytes) else v.encode(),
                metrics_enabled=False,  # nothing reads kafka-python's own metrics; recording them cost CPU
            ),
        )

    def admin(self):
        """One admin client per process: it reconnects by itself, and a client per call would leak sockets."""
        from kafka import KafkaAdminClient

        return self._client(
            "admin",
            lambda cfg: KafkaAdminClient(
                bootstrap_servers=cfg["KAFKA_BOOTSTRAP_SERVERS"].split(","),
                request_timeout_ms=cfg["KAFKA_REQUEST_TIMEOUT_MS"],
                bootstrap_timeout_ms=cfg["KAFKA_REQUEST_TIMEOUT_MS"],
                reconnect_backoff_max_ms=1000,
            ),
        )

    def offsets_consumer(self):
        """A group-less consumer per process, used only to read partition metadata and offsets (metrics).

        kafka-python consumers are not thread-safe: callers serialise their use of it.
        """
        from kafka import KafkaConsumer

        return self._client(
            "offsets",
            lambda cfg: KafkaConsumer(
                bootstrap_servers=cfg["KAFKA_BOOTSTRAP_SERVERS"].split(","),
                group_id=None,
                enable_auto_commit=False,
                bootstrap_timeout_ms=cfg["KAFKA_REQUEST_TIMEOUT_MS"],
                metadata_max_age_ms=5000,
                metrics_enabled=False,
            ),
        )

    def close(self) -> None:
        """Close this process's Kafka clients (before the broker goes away, so they do not retry into the void)."""
        state = current_app.extensions["atomicseats.kafka"]
        with self._lock:
            clients = [state["producer"], state["admin"], state["offsets"]]
            state["producer"] = state["admin"] = state["offsets"] = None
        for client in clients:
            if client is not None:
                client.close()

    def reset_producer(self) -> None:
        """Drop a producer that failed, so the next call connects afresh."""
        state = current_app.extensions["atomicseats.kafka"]
        with self._lock:
            producer, state["producer"] = state["producer"], None
        if producer is not None:
            producer.close(timeout=1)


@dataclass
class _BookingState:
    settings: BookingSettings
    objects: dict[str, Any] = field(default_factory=dict)


class BookingExtension:
    """The engine's settings and its per-process objects, bound to the app like ``db`` and ``redis_ext``.

    The settings are built once, when the app starts (web process, worker, scheduler), so the engine reads a
    frozen object instead of Flask's config; the objects (the live-update emitter, the outcome waiters, the
    waiting room's caches) live beside them, one set per app. Every database connection of the app gets the
    engine's lock timeout (booking/locks.py). Bind it after ``db``.
    """

    def init_app(self, app: Flask) -> None:
        settings = BookingSettings.from_config(app.config)
        app.extensions["atomicseats.booking"] = _BookingState(settings)
        with app.app_context():
            bound_lock_waits(db.engine, settings.lock_timeout_seconds)

    @property
    def settings(self) -> BookingSettings:
        return current_app.extensions["atomicseats.booking"].settings

    @property
    def objects(self) -> dict[str, Any]:
        return current_app.extensions["atomicseats.booking"].objects


redis_ext = RedisExtension()
kafka_ext = KafkaExtension()
booking_ext = BookingExtension()
