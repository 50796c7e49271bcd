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
SUBSCRIBE_TIMEOUT_SECONDS = 2.0


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
        """Subscribe before the first waiter reads the status, then listen on a thread of its own.

        A thread that subscribed on its own would do so some time after it started: an outcome published
        meanwhile (a worker confirming the very booking the first waiter reads as pending) would reach nobody,
        and that waiter would sleep until its timeout.
        """
        if self._listener is not None and self._listener.is_alive():
            return
        try:
            pubsub: redis.client.PubSub | None = self._subscribe()
        except (redis.ConnectionError, redis.TimeoutError):
            log.warning("booking outcome subscriber cannot reach Redis; retrying", exc_info=True)
            pubsub = None  # the thread retries; meanwhile waiters fall back to their timeout
        self._listener = threading.Thread(target=self._listen, args=(pubsub,), name="booking-outcomes", daemon=True)
        self._listener.start()

    def _subscribe(self) -> redis.client.PubSub:
        """A subscription Redis has confirmed: every outcome published from now on reaches it."""
        pubsub = self._client.pubsub()
        pubsub.subscribe(self._channel)
        reply = pubsub.get_message(timeout=SUBSCRIBE_TIMEOUT_SECONDS)
        if reply is None or reply["type"] != "subscribe":
            pubsub.close()
            raise redis.TimeoutError(f"Redis did not confirm the subscription to {self._channel}")
        return pubsub

    def _listen(self, pubsub: redis.client.PubSub | None) -> None:
        while True:
            try:
                pubsub = pubsub or self._subscribe()
                for message in pubsub.listen():
                    if message["type"] != "message":
                        continue
                    booking_id = message["data"].decode()
                    with self._lock:
                        for event in self._waiting.get(booking_id, ()):
                            event.set()
            except (redis.ConnectionError, redis.TimeoutError):
                log.warning("booking outcome subscriber lost Redis; resubscribing", exc_info=True)
                if pubsub is not None:
                    pubsub.close()
                pubsub = None
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
