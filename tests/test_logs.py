"""One JSON object per log line, carrying the request id of the work it belongs to; Kafka's chatter stays out."""

from __future__ import annotations

import json
import logging
import sys

from atomicseats import logs


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
