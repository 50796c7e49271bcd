"""One request id from the API call to the email: the booking row, the Kafka payloads, the RQ worker's JSON log
lines and the email's X-Request-Id header all carry the id the client sent."""

from __future__ import annotations

import json
import uuid

from tests.pipeline.helpers import hold, query, wait_final
from tests.services import wait_for


def _json_lines(path) -> list[dict]:
    lines = []
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            try:
                lines.append(json.loads(line))
            except ValueError:
                continue
    return lines


def test_the_request_id_follows_a_booking_to_its_email(api, factory, pipeline, mailbox, app):
    event = factory.event()
    user = factory.user(email=f"trace-{uuid.uuid4().hex[:6]}@example.com")
    client = api.as_(user)
    held = hold(client, event.id, seat_ids=factory.seat_ids(event.id)[:1])
    request_id = f"trace-{uuid.uuid4().hex}"

    response = client.post(
        "/bookings",
        json={"hold_id": held["id"], "payment": {"card_number": "4242424242424242"}},
        headers={"X-Request-Id": request_id},
    )
    assert response.status == 202 and response.headers["X-Request-Id"] == request_id
    assert wait_final(client, response.body["id"], timeout=60, pipeline=pipeline)["status"] == "confirmed"

    booking_id = response.body["id"]
    assert query(app, "SELECT request_id FROM bookings WHERE id = :b", b=booking_id)[0].request_id == request_id
    outbox = query(app, "SELECT topic, payload FROM outbox WHERE payload->>'booking_id' = :b", b=booking_id)
    topics = {r.topic: r.payload["request_id"] for r in outbox}
    assert topics == {"booking-requests": request_id, "notifications": request_id}

    (email,) = mailbox.wait_for(user.email)
    assert email["X-Request-Id"] == request_id

    def worker_logged() -> bool:
        logs = sorted(pipeline.run_dir.glob("rq-worker-*.log"))  # whichever worker ran the jobs
        lines = [e for path in logs for e in _json_lines(path) if e.get("request_id") == request_id]
        confirmed = any(e.get("booking_id") == booking_id for e in lines)
        return confirmed and any("email" in e["message"] for e in lines)

    # The confirm job's line and the email job's line (written just after the message reached the sink).
    assert wait_for(worker_logged, 10, "the worker's JSON log lines with the request id")
