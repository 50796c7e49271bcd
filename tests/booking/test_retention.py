"""Retention: bookkeeping rows older than their retention are deleted; recent and unsent ones stay."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import text

from atomicseats.booking import retention
from atomicseats.extensions import db
from atomicseats.pipeline.scheduler import default_tasks


def _message(label: str, sent: str | None, created: str = "now()") -> None:
    db.session.execute(
        text(
            f"INSERT INTO outbox (topic, key, payload, created_at, sent_at, attempts) "
            f"VALUES ('notifications', '1', CAST(:p AS jsonb), {created}, {sent or 'NULL'}, 1)"
        ),
        {"p": f'{{"label": "{label}"}}'},
    )


def _processed(message_id: str, at: str) -> None:
    db.session.execute(
        text(f"INSERT INTO processed_messages (consumer, message_id, processed_at) VALUES ('email', :m, {at})"),
        {"m": message_id},
    )


def _idempotency_key(user_id: int, key: str, at: str) -> None:
    db.session.execute(
        text(
            "INSERT INTO idempotency_keys (user_id, key, request_hash, status_code, response, created_at) "
            f"VALUES (:u, :k, 'h', 201, CAST('{{}}' AS jsonb), {at})"
        ),
        {"u": user_id, "k": key},
    )


def _token(user_id: int, label: str, expires: str) -> None:
    db.session.execute(
        text(f"INSERT INTO api_tokens (user_id, token_hash, expires_at) VALUES (:u, :h, {expires})"),
        {"u": user_id, "h": label},
    )


def _left(sql: str) -> list[str]:
    return list(db.session.scalars(text(sql)))


def test_outbox_pruning_deletes_only_messages_sent_before_the_retention_in_batches(ctx):
    for i in range(5):
        _message(f"old-{i}", sent=f"now() - interval '8 days' + interval '{i} seconds'")
    _message("recent", sent="now() - interval '2 days'")
    _message("unsent", sent=None, created="now() - interval '30 days'")
    db.session.commit()

    assert retention.outbox(timedelta(days=7), batch=2) == 5  # three batches: 2, 2, then 1 < 2 ends it

    assert _left("SELECT payload->>'label' FROM outbox ORDER BY id") == ["recent", "unsent"]
    assert retention.outbox(timedelta(days=7)) == 0


def test_processed_message_ids_are_kept_for_the_retention_only(ctx):
    for i in range(3):
        _processed(f"old-{i}", f"now() - interval '8 days' + interval '{i} seconds'")
    _processed("recent", "now() - interval '6 days'")
    db.session.commit()

    assert retention.processed_messages(timedelta(days=7), batch=2) == 3

    assert _left("SELECT message_id FROM processed_messages") == ["recent"]


def test_idempotency_keys_are_kept_for_the_retention_only(ctx, factory):
    user = factory.user()
    _idempotency_key(user.id, "old", "now() - interval '25 hours'")
    _idempotency_key(user.id, "recent", "now() - interval '23 hours'")
    db.session.commit()

    assert retention.idempotency_keys(timedelta(hours=24)) == 1

    assert _left("SELECT key FROM idempotency_keys") == ["recent"]


def test_api_tokens_are_deleted_only_once_expired_for_the_retention(ctx, factory):
    user = factory.user()
    _token(user.id, "expired-long-ago", "now() - interval '8 days'")
    _token(user.id, "expired-lately", "now() - interval '6 days'")
    _token(user.id, "live", "now() + interval '1 hour'")
    db.session.commit()

    assert retention.api_tokens(timedelta(days=7)) == 1

    assert _left("SELECT token_hash FROM api_tokens ORDER BY token_hash") == ["expired-lately", "live"]


def test_the_scheduler_prunes_every_table_by_the_configured_retentions(app, ctx, factory):
    user = factory.user()
    outbox_days = app.config["OUTBOX_RETENTION_SECONDS"] // 86400
    key_hours = app.config["IDEMPOTENCY_KEY_RETENTION_SECONDS"] // 3600
    token_days = app.config["API_TOKEN_RETENTION_SECONDS"] // 86400
    _message("old", sent=f"now() - interval '{outbox_days + 1} days'")
    _message("recent", sent=f"now() - interval '{outbox_days - 1} days'")
    _processed("old", f"now() - interval '{outbox_days + 1} days'")
    _processed("recent", f"now() - interval '{outbox_days - 1} days'")
    _idempotency_key(user.id, "old", f"now() - interval '{key_hours + 1} hours'")
    _idempotency_key(user.id, "recent", f"now() - interval '{key_hours - 1} hours'")
    _token(user.id, "old", f"now() - interval '{token_days + 1} days'")
    _token(user.id, "recent", f"now() - interval '{token_days - 1} days'")
    db.session.commit()

    (prune,) = [task for task in default_tasks(app) if task.name == "prune"]
    assert prune.run() == {"outbox": 1, "processed_messages": 1, "idempotency_keys": 1, "api_tokens": 1}

    assert _left("SELECT payload->>'label' FROM outbox") == ["recent"]
    assert _left("SELECT message_id FROM processed_messages") == ["recent"]
    assert _left("SELECT key FROM idempotency_keys") == ["recent"]
    assert _left("SELECT token_hash FROM api_tokens") == ["recent"]
