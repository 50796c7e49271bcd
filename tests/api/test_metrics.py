"""GET /metrics: the named series exist, in Prometheus text format, and move with what happens."""

from __future__ import annotations

import uuid

import pytest
from prometheus_client.parser import text_string_to_metric_families

from atomicseats.booking.payments import CARD_APPROVED
from atomicseats.pipeline.relay import relay_once
from atomicseats.pipeline.topics import ensure_topics


def scrape(client) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.get_data(as_text=True))
        for sample in family.samples
    }


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_every_named_series_is_there_and_every_source_answers(client):
    samples = scrape(client)
    names = {name for name, _ in samples}
    assert {
        "atomicseats_holds_created_total",
        "atomicseats_holds_expired_total",
        "atomicseats_outbox_unsent",
        "atomicseats_outbox_oldest_unsent_age_seconds",
        "atomicseats_rq_queue_depth",
        "atomicseats_rq_failed_jobs",
        "atomicseats_metrics_source_up",
    } <= names
    for source in ("postgresql", "redis", "kafka"):
        assert value(samples, "atomicseats_metrics_source_up", source=source) == 1.0, source
    assert value(samples, "atomicseats_rq_queue_depth", queue="bookings") == 0.0


def test_requests_are_counted_and_timed_per_endpoint_not_per_path(client, api, factory):
    event = factory.event()
    before = scrape(client)
    for _ in range(3):
        assert api.get(f"/events/{event.id}").status == 200
    after = scrape(client)
    labels = {"method": "GET", "endpoint": "api.get_event", "status": "200"}
    assert (
        value(after, "atomicseats_http_requests_total", **labels)
        - value(before, "atomicseats_http_requests_total", **labels)
        == 3
    )
    count = value(after, "atomicseats_http_request_duration_seconds_count", method="GET", endpoint="api.get_event")
    assert count >= 3
    assert not any(f"/events/{event.id}" in str(key) for key in after)


# The app's producer passes lambdas as serializers, which kafka-python 3 flags; the relay process logs the same.
@pytest.mark.filterwarnings("ignore:(key|value)_serializer does not implement:DeprecationWarning")
def test_holds_bookings_outbox_and_kafka_lag_move(client, api, factory, app, monkeypatch, no_dispatcher):
    # A consumer group of this test's own that never consumes: its lag is exactly what was published. Topics of
    # its own too, so that no dispatcher ever consumes what this test publishes.
    run = uuid.uuid4().hex[:8]
    monkeypatch.setitem(app.config, "KAFKA_CONSUMER_GROUP", f"idle-{run}")
    monkeypatch.setitem(app.config, "KAFKA_TOPIC_PREFIX", f"{app.config['KAFKA_TOPIC_PREFIX']}lag-{run}.")
    with app.app_context():
        ensure_topics()
    event = factory.event()
    buyer = api.as_(factory.user())
    before = scrape(client)
    hold = buyer.post(f"/events/{event.id}/holds", json={"seat_ids": factory.seat_ids(event.id)[:2]})
    assert hold.status == 201
    booking = buyer.post("/bookings", json={"hold_id": hold.body["id"], "payment": {"card_number": CARD_APPROVED}})
    assert booking.status == 202
    after = scrape(client)
    assert value(after, "atomicseats_holds_created_total") == value(before, "atomicseats_holds_created_total") + 1
    pending = value(after, "atomicseats_bookings", status="pending")
    assert pending == value(before, "atomicseats_bookings", status="pending") + 1
    assert value(after, "atomicseats_outbox_unsent") >= 1

    with app.app_context():  # publish the outbox here, without a dispatcher
        sent = relay_once()
    relayed = scrape(client)
    assert value(relayed, "atomicseats_outbox_unsent") == 0
    group = app.config["KAFKA_CONSUMER_GROUP"]
    lag_before = sum(v for (name, labels), v in after.items() if name == "atomicseats_kafka_consumer_lag")
    lag_after = sum(v for (name, labels), v in relayed.items() if name == "atomicseats_kafka_consumer_lag")
    assert lag_after - lag_before == sent >= 1
    assert value(relayed, "atomicseats_kafka_consumer_lag", group=group, topic="booking-requests") >= 1


def test_with_a_metrics_token_set_a_scrape_needs_it(app, client):
    app.config["METRICS_TOKEN"] = token = uuid.uuid4().hex
    try:
        anonymous = client.get("/metrics")
        assert anonymous.status_code == 401
        assert anonymous.headers["WWW-Authenticate"].startswith("Bearer")
        assert b"atomicseats_" not in anonymous.data
        assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
        allowed = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
        assert allowed.status_code == 200
        assert b"atomicseats_http_requests_total" in allowed.data
    finally:
        app.config["METRICS_TOKEN"] = ""
