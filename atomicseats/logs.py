"""Structured logs: one JSON object per line, each carrying the request id of the work it belongs to.

The request id comes from the caller's ``X-Request-Id`` (or is made up), is echoed in the response, and travels
with a booking: ``bookings.request_id``, the outbox payload and the Kafka message header, the RQ job's meta,
and the email's ``X-Request-Id`` header. ``request_id`` lives in a context variable, not in Flask's request,
so the engine, the dispatcher and RQ jobs read and set it the same way.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import logging.handlers
import os
import queue
import re
import threading
import time
import uuid
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

from flask import Flask, Response, g, request
from pythonjsonlogger import json as jsonlogger

_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
_ACCEPTED = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")  # a caller's id is logged verbatim: no spaces, no quotes


def current_request_id() -> str | None:
    return _request_id.get()


def new_request_id() -> str:
    return uuid.uuid4().hex


@contextlib.contextmanager
def request_id_bound(value: str | None) -> Iterator[None]:
    """Run a block (a Kafka message, an RQ job) under the request id it came with."""
    token = _request_id.set(value)
    try:
        yield
    finally:
        _request_id.reset(token)


class JsonFormatter(jsonlogger.JsonFormatter):
    """``{"ts", "level", "logger", "message", ...extra fields, "request_id", "exc"}`` on one line.

    python-json-logger does the formatting (extra fields, exceptions, values JSON cannot encode); this adds the
    request id bound to the running work, so that no call site has to pass it.
    """

    def __init__(self) -> None:
        super().__init__(
            "%(levelname)s %(name)s %(message)s",
            rename_fields={"levelname": "level", "name": "logger", "exc_info": "exc"},
            timestamp="ts",
        )

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        if (rid := _request_id.get()) is not None:
            log_data.setdefault("request_id", rid)
        return {"ts": log_data.pop("ts"), **log_data}  # the time first, as people read a log


# Loggers whose INFO lines are noise in a running system: kafka-python logs its metadata refreshes (every few
# seconds per client) and connection churn at INFO. Their warnings and errors still show.
QUIET_LOGGERS = ("kafka",)


class _QueueHandler(logging.handlers.QueueHandler):
    """A queue handler that takes no lock: its queue is thread-safe, and each thread formats its own record."""

    def handle(self, record: logging.LogRecord) -> bool:
        if rv := self.filter(record):
            self.emit(record)
        return bool(rv)


class _Writer:
    """The one thread of a process that writes its log lines to stderr, fed through a queue.

    A web worker's hundred request threads each log an access line. With a plain stream handler, each held the
    handler's lock across its write to stderr, and a thread that released the GIL for the write waited behind
    the others to take it back, lock still held: under a sale's load most request threads stood in that line
    (py-spy). Now a line is formatted in the thread that logs it (its request id is in that thread's context)
    and put on a queue, with no lock taken; this thread writes. Lines still queued when a process is killed
    with SIGKILL are lost.
    """

    def __init__(self) -> None:
        self.handler = _QueueHandler(queue.SimpleQueue())
        self.handler.setFormatter(JsonFormatter())
        self._start()
        os.register_at_fork(after_in_child=self._start)  # a forked child has the queue but not the thread
        atexit.register(self._stop)

    def _start(self) -> None:
        self.handler.queue = queue.SimpleQueue()
        stream = logging.StreamHandler()
        stream.setFormatter(logging.Formatter("%(message)s"))  # the line was formatted when it was logged
        self.listener = logging.handlers.QueueListener(self.handler.queue, stream)
        self.listener.start()

    def _stop(self) -> None:
        self.listener.stop()  # writes what is queued, then ends the thread


_writer: _Writer | None = None
_writer_lock = threading.Lock()


def configure(level: int = logging.INFO) -> None:
    """JSON lines on stderr from the root logger, once per process (the app factory may run more than once)."""
    global _writer
    root = logging.getLogger()
    with _writer_lock:
        if _writer is None:
            _writer = _Writer()
    if _writer.handler in root.handlers:
        return
    root.addHandler(_writer.handler)  # again, after a logging.config.fileConfig (alembic's) took it away
    root.setLevel(level)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(level, logging.WARNING))


def init_app(app: Flask) -> None:
    """Bind a request id to every request, echo it, and log one access line per request."""
    access = logging.getLogger("atomicseats.access")

    @app.before_request
    def bind_request_id() -> None:
        offered = request.headers.get("X-Request-Id", "")
        g.request_id = offered if _ACCEPTED.match(offered) else new_request_id()
        _request_id.set(g.request_id)
        g.request_started = time.perf_counter()

    @app.after_request
    def echo_request_id(response: Response) -> Response:
        if "request_id" in g:
            response.headers["X-Request-Id"] = g.request_id
            access.info(
                "%s %s %s",
                request.method,
                request.path,
                response.status_code,
                extra={
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "duration_ms": round((time.perf_counter() - g.request_started) * 1000, 2),
                },
            )
        return response

    @app.teardown_request
    def unbind_request_id(_exc: BaseException | None) -> None:
        _request_id.set(None)  # a pooled thread's next request starts clean
