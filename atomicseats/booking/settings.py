"""The engine's settings: one frozen object built from the configuration when a process starts.

The engine never reads Flask's config. ``extensions.booking_ext`` builds these once per app (web process,
worker, scheduler) and hands them out, so a service reads typed values that cannot change under it, and a
test or script can build them from any mapping.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class BookingSettings:
    checkout_grace_seconds: float
    waitlist_offer_seconds: float
    payment_provider: str
    payment_timeout_seconds: float
    payment_slow_seconds: float
    lock_timeout_seconds: float
    redis_url: str
    redis_prefix: str
    socketio_message_queue: str | None
    booking_wait_max_waiters: int
    waiting_room_prequeue_seconds: int
    waiting_room_admission_seconds: int
    waiting_room_max_per_ip: int
    waiting_room_burst_seconds: float
    waiting_room_push_seconds: float
    waiting_room_cache_seconds: float
    secret_key: str = field(repr=False)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> BookingSettings:
        """Read the engine's keys from an app's config (see config.py for what each means)."""
        return cls(
            checkout_grace_seconds=config["CHECKOUT_GRACE_SECONDS"],
            waitlist_offer_seconds=config.get("WAITLIST_OFFER_SECONDS") or 0,
            payment_provider=config["PAYMENT_PROVIDER"],
            payment_timeout_seconds=config["PAYMENT_TIMEOUT_SECONDS"],
            payment_slow_seconds=float(config["PAYMENT_SLOW_SECONDS"]),
            lock_timeout_seconds=float(config["LOCK_TIMEOUT_SECONDS"]),
            redis_url=config["REDIS_URL"],
            redis_prefix=config["REDIS_PREFIX"],
            socketio_message_queue=config.get("SOCKETIO_MESSAGE_QUEUE") or None,
            booking_wait_max_waiters=config["BOOKING_WAIT_MAX_WAITERS"],
            waiting_room_prequeue_seconds=config["WAITING_ROOM_PREQUEUE_SECONDS"],
            waiting_room_admission_seconds=config["WAITING_ROOM_ADMISSION_SECONDS"],
            waiting_room_max_per_ip=config["WAITING_ROOM_MAX_PER_IP"],
            waiting_room_burst_seconds=config["WAITING_ROOM_BURST_SECONDS"],
            waiting_room_push_seconds=config["WAITING_ROOM_PUSH_SECONDS"],
            waiting_room_cache_seconds=config["WAITING_ROOM_CACHE_SECONDS"],
            secret_key=config["SECRET_KEY"],
        )
