"""A booking's outcome, announced once it is final, so that a poll can wait for it instead of repeating.

The worker that confirms or fails a booking publishes its id on one Redis channel after commit. Each web
process keeps one subscriber thread for that channel and wakes the requests waiting on that booking
(``GET /api/v1/bookings/{id}?wait=N``). A waiter registers before it reads the status, so an outcome that
lands between the read and the wait still wakes it; a lost message (Redis restarting) only makes it wait
until its timeout, after which it reads the status again.

A waiting request holds a server thread, so a process lets at most ``max_waiters`` wait at once; beyond
that the poll is answered at once, as a plain poll.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable

import redis

from atomicseats.extensions import booking_ext, redis_ext

log = logging.getLogger(__name__)
CHANNEL = "booking-final"


def channel() -> str:
    return redis_ext.key(CHANNEL)


def announce(booking_id: str) -> None:
    """After commit: wake whoever waits on this booking, in every web process (best effort)."""
    try:
        redis_ext.client.publish(channel(), booking_id)
    except (redis.ConnectionError, redis.TimeoutError):
        log.warning("could not announce the outcome of booking %s", booking_id)


class Waiters:
    """The requests of this process waiting on bookings, and the one subscriber thread that wakes them."""

    def __init__(self, client: redis.Redis, channel_name: str, max_waiters: int):
        self._client = client
        self._channel = channel_name
        self._max = max_waiters
        self._lock = threading.Lock()
        self._waiting: dict[str, set[threading.Event]] = defaultdict(set)
        self._count = 0
        self._listener: threading.Thread | None = None

    def wait(self, booking_id: str, timeout: float, is_final: Callable[[], bool]) -> bool:
        """Wait up to ``timeout`` s until the booking is final; ``is_final`` reads it (after registering)."""
        woken = threading.Event()
        with self._lock:
            if self._count >= self._max:
                return is_final()
            self._count += 1
            self._waiting[booking_id].add(woken)
            self._ensure_listener()
        try:
            if is_final():
                return True
            woken.wait(timeout)
            return is_final()
        finally:
            with self._lock:
                self._count -= 1
                waiting = self._waiting[booking_id]
                waiting.discard(woken)
                if not waiting:
                    del self._waiting[booking_id]

    def _ensure_listener(self) -> None:
        if self._listener is None or not self._listener.is_alive():
            self._listener = threading.Thread(target=self._listen, name="booking-outcomes", daemon=True)
            self._listener.start()

    def _listen(self) -> None:
        while True:
            try:
                pubsub = self._client.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(self._channel)
                for message in pubsub.listen():
                    booking_id = message["data"].decode()
                    with self._lock:
                        for event in self._waiting.get(booking_id, ()):
                            event.set()
            except (redis.ConnectionError, redis.TimeoutError):
                log.warning("booking outcome subscriber lost Redis; resubscribing", exc_info=True)
                time.sleep(1.0)  # back off; waiters meanwhile fall back to their timeout


def waiters() -> Waiters:
    """This process's waiters, made on first use; the subscriber has no read timeout (it idles by design)."""
    objects, settings = booking_ext.objects, booking_ext.settings
    found = objects.get("booking_waiters")
    if found is None:
        client = redis.Redis.from_url(settings.redis_url, socket_timeout=None, health_check_interval=30)
        found = Waiters(client, channel(), settings.booking_wait_max_waiters)
        objects["booking_waiters"] = found
    return found
