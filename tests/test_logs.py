"""One JSON object per log line, carrying the request id of the work it belongs to; Kafka's chatter stays out."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

from atomicseats import logs

ROOT = Path(__file__).resolve().parent.parent


def _format(record: logging.LogRecord) -> dict:
    return json.loads(logs.JsonFormatter().format(record))


def _record(message: str, *args: object, level: int = logging.INFO, **extra: object) -> logging.LogRecord:
    return logging.getLogger("atomicseats.test").makeRecord(
        "atomicseats.test", level, __file__, 1, message, args, None, extra=extra
    )


def test_a_line_names_time_level_logger_message_and_extra_fields() -> None:
    line = _format(_record("%s %s", "GET", "/health", method="GET", status=200))
    assert next(iter(line)) == "ts"
    assert line["level"] == "INFO"
    assert line["logger"] == "atomicseats.test"
    assert line["message"] == "GET /health"
    assert (line["method"], line["status"]) == ("GET", 200)
    assert "request_id" not in line


def test_a_line_carries_the_bound_request_id() -> None:
    with logs.request_id_bound("trace-1"):
        inside = _format(_record("inside"))
    outside = _format(_record("outside"))
    assert inside["request_id"] == "trace-1"
    assert "request_id" not in outside


def test_an_exception_is_one_field_of_the_same_line() -> None:
    try:
        raise ValueError("broken")
    except ValueError:
        record = _record("failed", level=logging.ERROR)
        record.exc_info = sys.exc_info()
    formatted = logs.JsonFormatter().format(record)
    assert "\n" not in formatted
    assert "ValueError: broken" in json.loads(formatted)["exc"]


def test_kafka_client_info_lines_are_not_logged() -> None:
    logs.configure()
    assert not logging.getLogger("kafka.cluster").isEnabledFor(logging.INFO)
    assert logging.getLogger("kafka.conn").isEnabledFor(logging.WARNING)
    assert logging.getLogger("atomicseats.test").isEnabledFor(logging.INFO)


def test_lines_are_written_by_one_thread_with_the_request_id_of_the_thread_that_logged_them() -> None:
    """Formatted when logged (the id is that thread's), written by the process's writer thread, flushed at exit,
    and a forked child (an RQ work horse, a multiprocessing client) writes its own."""
    script = """
import logging, os, sys, threading
from atomicseats import logs
logs.configure()
log = logging.getLogger("atomicseats.test")
def work(n):
    with logs.request_id_bound(f"thread-{n}"):
        log.info("from thread %s", n)
threads = [threading.Thread(target=work, args=(n,)) for n in range(20)]
for t in threads: t.start()
for t in threads: t.join()
pid = os.fork()
if pid == 0:
    with logs.request_id_bound("child"):
        log.info("from the child")
    sys.exit(0)
os.waitpid(pid, 0)
"""
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    lines = [json.loads(line) for line in done.stderr.splitlines()]
    assert sorted((line["message"], line["request_id"]) for line in lines) == sorted(
        [(f"from thread {n}", f"thread-{n}") for n in range(20)] + [("from the child", "child")]
    )
