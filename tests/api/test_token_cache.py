"""A web process keeps the tokens it resolved, and forgets them the moment anyone's access changes."""

from __future__ import annotations

from sqlalchemy import text

from atomicseats.accounts import tokens, users
from atomicseats.extensions import db, redis_ext
from tests.api.test_accounts import assert_error
from tests.factories import LiveApi


def _resolve(app, plain: str):
    with app.app_context():
        try:
            found = tokens.resolve(plain)
            return None if found is None else (found[0].id, found[0].role)
        finally:
            db.session.remove()


def _delete_behind_its_back(app, plain: str) -> None:
    """Remove the token row without telling anyone, as no code path of the product ever does."""
    with app.app_context():
        db.session.execute(text("DELETE FROM api_tokens WHERE token_hash = :h"), {"h": tokens._digest(plain)})
        db.session.commit()
        db.session.remove()


def test_a_resolved_token_is_kept_until_access_changes(app, factory):
    user = factory.user()
    plain = factory.token(user)
    assert _resolve(app, plain) == (user.id, "attendee")

    _delete_behind_its_back(app, plain)
    assert _resolve(app, plain) == (user.id, "attendee")  # kept: PostgreSQL was not asked again

    with app.app_context():
        users.access_changed()
    assert _resolve(app, plain) is None  # a new epoch: asked PostgreSQL, which no longer has the token


def test_a_wiped_redis_starts_a_new_epoch_and_nothing_kept_before_it_counts(app, factory):
    user = factory.user()
    plain = factory.token(user)
    assert _resolve(app, plain) == (user.id, "attendee")
    with app.app_context():
        redis_ext.client.delete(redis_ext.key("accounts", "access"))  # Redis wiped or restarted

    _delete_behind_its_back(app, plain)
    assert _resolve(app, plain) is None


def test_a_token_revoked_here_stops_working_at_once_in_another_web_process(app, factory, live_server):
    user = factory.user()
    plain = factory.token(user)
    other_process = LiveApi(live_server, plain)
    assert other_process.get("/me").status == 200  # resolved and kept by the server process

    with app.app_context():
        tokens.revoke(
            db.session.scalar(text("SELECT id FROM api_tokens WHERE token_hash = :h"), {"h": tokens._digest(plain)})
        )
        db.session.remove()

    assert_error(other_process.get("/me"), 401, "unauthorized")


def test_a_role_taken_away_here_is_refused_at_once_in_another_web_process(app, factory, live_server):
    host = factory.user(role="host")
    other_process = LiveApi(live_server, factory.token(host))
    assert other_process.post("/events", json={}).status == 422  # a host, told what the event lacks

    with app.app_context():
        users.set_role(host.id, "attendee")
        db.session.remove()

    assert_error(other_process.post("/events", json={}), 403, "forbidden")
