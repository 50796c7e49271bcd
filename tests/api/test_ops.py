"""Liveness and readiness, with the real dependencies."""

from __future__ import annotations

import pytest

from tests.services import wait_for


def test_health_answers_without_touching_dependencies(client):
    assert client.get("/health").get_json() == {"status": "ok"}


def test_ready_reports_each_dependency(client):
    response = client.get("/ready")
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["checks"] == {"postgresql": "ok", "redis": "ok", "kafka": "ok"}


def test_ready_turns_503_naming_kafka_while_it_is_down_and_recovers(client, kafka):
    kafka.stop()
    try:
        response = client.get("/ready")
        assert response.status_code == 503
        body = response.get_json()
        assert body["error"]["code"] == "not_ready"
        assert set(body["error"]["details"]["failing"]) == {"kafka"}
        assert response.headers["Retry-After"]
    finally:
        kafka.start()
    # the Kafka client reconnects with backoff, so ready comes back within a bounded time, not at once
    wait_for(lambda: client.get("/ready").status_code == 200, 15, "/ready to answer 200 after Kafka is back")


@pytest.mark.parametrize("path", ["/", "/login", "/register"])
def test_pages_render(client, path):
    response = client.get(path)
    assert response.status_code == 200
    assert b"AtomicSeats" in response.data


def test_html_errors_are_pages_not_json(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert response.mimetype == "text/html"
