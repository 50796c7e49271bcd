"""A booking whose confirmation keeps raising is parked as a dead letter, left alone by the re-drive, and
confirmed by an admin's replay once its cause is fixed (a real dispatcher, worker and scheduler)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
import sqlalchemy.exc
from sqlalchemy import text

from atomicseats.booking import booking_reads, payments
from atomicseats.extensions import db, redis_ext
from atomicseats.pipeline import jobs, recovery
from tests.pipeline.helpers import audit, checkout, hold, query, wait_final
from tests.services import wait_for


class _TokenLost(payments.SimulatedProvider):
    """Tokenises without keeping the token: the booking is written with none, and every charge of it raises."""

    def tokenize(self, card_number: str) -> payments.CardToken:
        return payments.CardToken(None, payments.normalise_card(card_number)[-4:])  # type: ignore[arg-type]


def test_a_booking_whose_confirmation_keeps_raising_is_parked_then_replayed_once(
    api, factory, pipeline, app, mailbox, monkeypatch
):
    user, admin = factory.user(), factory.user("admin")
    event = factory.event(name="Parked Gala")
    client = api.as_(user)
    with monkeypatch.context() as patch:
        patch.setitem(payments._PROVIDERS, "simulated", _TokenLost())  # this process's checkout only
        booking = checkout(client, hold(client, event.id, seat_ids=factory.seat_ids(event.id)[:2])["id"])
    booking_id = booking["id"]
    monkeypatch.setitem(app.config, "REDRIVE_AFTER_SECONDS", 1)  # re-drive from here every second

    def parked() -> list:
        with app.app_context():
            recovery.redrive_stale()
            db.session.remove()
        return query(
            app,
            "SELECT id, attempts, error, payload, event_id FROM dead_letters "
            "WHERE kind = 'booking' AND message_id = :b",
            b=booking_id,
        )

    [letter] = wait_for(parked, 40, "the confirmation to raise on every attempt and be parked", interval=0.3)
    assert letter.attempts == app.config["CONFIRM_MAX_ATTEMPTS"]
    assert "AttributeError" in letter.error
    assert letter.payload == {"booking_id": booking_id, "event_id": event.id, "user_id": user.id}
    assert letter.event_id == event.id
    assert client.get(f"/bookings/{booking_id}").body["status"] == "pending"
    with app.app_context():  # the re-drive leaves a parked booking alone
        assert booking_id not in {str(b) for b in booking_reads.stale_pending(timedelta(seconds=1))}
        db.session.remove()

    with app.app_context():  # the cause fixed: the token the provider gave
        db.session.execute(text("UPDATE bookings SET payment_token = 'sim_ok_fixed' WHERE id = :b"), {"b": booking_id})
        db.session.commit()
        db.session.remove()
    admin_api = api.as_(admin)
    assert api.as_(user).post(f"/admin/dead-letters/{letter.id}/replay").status == 403
    assert admin_api.post(f"/admin/dead-letters/{letter.id}/replay").status == 202
    again = admin_api.post(f"/admin/dead-letters/{letter.id}/replay")
    assert again.status == 409 and again.body["error"]["code"] == "already_replayed"
    assert wait_final(client, booking_id, pipeline=pipeline)["status"] == "confirmed"
    [mail] = mailbox.wait_for(user.email)
    assert "Parked Gala" in mail["Subject"]
    [row] = query(app, "SELECT replayed_by, replayed_at FROM dead_letters WHERE id = :i", i=letter.id)
    assert row.replayed_by == admin.id and row.replayed_at is not None
    audit(app, event.id)


def test_only_a_confirmation_that_raises_counts_not_one_that_could_not_reach_the_database(app, monkeypatch):
    booking_id = str(uuid.uuid4())
    lost = sqlalchemy.exc.OperationalError("SELECT 1", {}, Exception("server closed the connection unexpectedly"))

    def unreachable(*_args: object) -> None:
        raise lost

    def broken(*_args: object) -> None:
        raise RuntimeError("a bug")

    with app.app_context():
        failures = redis_ext.key("confirm-failures", booking_id)
        monkeypatch.setattr(jobs.checkout, "confirm_booking", unreachable)
        for _ in range(app.config["CONFIRM_MAX_ATTEMPTS"] + 1):
            with pytest.raises(sqlalchemy.exc.OperationalError):
                jobs.confirm_booking(booking_id)
        assert redis_ext.client.get(failures) is None
        monkeypatch.setattr(jobs.checkout, "confirm_booking", broken)
        with pytest.raises(RuntimeError):
            jobs.confirm_booking(booking_id)
        assert redis_ext.client.get(failures) == b"1"
