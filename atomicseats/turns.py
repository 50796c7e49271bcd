"""At most ``WEB_RUNNING_REQUESTS`` requests of a web worker run at once; the others wait for a turn first.

A gunicorn gthread worker has many threads (``WEB_THREADS``) so that slow clients and requests that only wait
(``GET /bookings/{id}?wait=N``) never run it out of threads. But all of a worker's threads share one GIL and
one CPU: when a sale's hundreds of buyers keep a hundred requests running at once, each gets a hundredth of
the core, and each of its dozen database and Redis round trips gives the GIL away and waits behind the others
to get it back. Every request then takes about as long as the slowest, a checkout's transaction stays open
(its locks held, its 202 not yet sent) a hundred times longer than its work, and the booking waits for its
own commit before the pipeline can see it. With a few requests running at a time and the rest waiting for a
turn, each runs nearly alone and is done in a few milliseconds; the worker does the same work per second
(docs/decisions/0025-running-requests.md).

A turn is taken before Flask sees the request and given back when the response is made (the WSGI
middleware :class:`Turns`). A thread that only waits, for another process's result, sets its turn aside
meanwhile (:func:`set_aside`), so long polls never hold turns.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

_held = threading.local()  # the Turns whose turn this thread holds, if any


class Turns:
    """WSGI middleware: a request runs only while its thread holds one of ``size`` turns."""

    def __init__(self, app: Callable[..., Iterable[bytes]], size: int):
        self.app = app
        self._turns = threading.Semaphore(size)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        self.take()
        try:
            return self.app(environ, start_response)
        finally:
            self.give_back()

    def take(self) -> None:
        self._turns.acquire()
        _held.turns = self

    def give_back(self) -> None:
        if getattr(_held, "turns", None) is self:
            _held.turns = None
            self._turns.release()


@contextlib.contextmanager
def set_aside() -> Iterator[None]:
    """While the calling thread only waits, let another request run in its turn (a no-op outside a turn)."""
    turns: Turns | None = getattr(_held, "turns", None)
    if turns is None:
        yield
        return
    turns.give_back()
    try:
        yield
    finally:
        turns.take()
