"""Outbox retention: messages sent long ago are deleted; unsent and recent ones stay."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import text

from atomicseats.booking import outbox
from atomicseats.extensions import db


def _message(label: str, sent: str | None, created: str = "now()") -> None:
    db.session.execute(
        text(
            f"INSERT INTO outbox (topic, key, payload, created_at, sent_at, attempts) "
            f"VALUES ('notifications', '1', CAST(:p AS jsonb), {created}, {sent or 'NULL'}, 1)"
        ),
        {"p": f'{{"label": "{label}"}}'},
    )


def test_pruning_deletes_only_messages_sent_before_the_retention_in_batches(ctx):
    for i in range(5):
        _message(f"old-{i}", sent=f"now() - interval '8 days' + interval '{i} seconds'")
    _message("recent", sent="now() - interval '2 days'")
    _message("unsent", sent=None, created="now() - interval '30 days'")
    db.session.commit()

    assert outbox.prune(timedelta(days=7), batch=2) == 5  # three batches: 2, 2, then 1 < 2 ends it

    left = db.session.scalars(text("SELECT payload->>'label' FROM outbox ORDER BY id")).all()
    assert left == ["recent", "unsent"]
    assert outbox.prune(timedelta(days=7)) == 0
