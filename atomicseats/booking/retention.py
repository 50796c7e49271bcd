"""How long bookkeeping rows are kept: sent outbox messages, consumers' processed message ids, idempotency keys
and expired API tokens.

Each of these tables is written on a hot path (or at every API sign-in) and would otherwise only grow. The
scheduler prunes them (``pipeline/scheduler.py``); each table goes a batch per transaction, oldest first,
skipping rows another transaction holds, so that pruning never waits on (or holds up) the relay, a consumer or
an API request.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import text

from atomicseats.booking.tx import transaction
from atomicseats.models.base import utcnow

BATCH = 5000


def outbox(older_than: timedelta, batch: int = BATCH) -> int:
    """Messages sent more than ``older_than`` ago; unsent ones always stay (their ``sent_at`` is NULL).

    Past the email re-drive window (a day) nothing reads a sent message again.
    """
    return _prune("outbox", "sent_at", older_than, batch)


def processed_messages(older_than: timedelta, batch: int = BATCH) -> int:
    """Consumers' records of applied message ids, kept as long as a message can arrive again.

    A message is delivered again by the outbox's re-drives, which read sent rows only while the outbox keeps
    them, and by Kafka, whose topic retention should therefore not exceed ``older_than`` (the outbox's own).
    """
    return _prune("processed_messages", "processed_at", older_than, batch)


def idempotency_keys(older_than: timedelta, batch: int = BATCH) -> int:
    """Stored first answers: a repeat of a key older than ``older_than`` is a new request (Stripe keeps 24 h)."""
    return _prune("idempotency_keys", "created_at", older_than, batch)


def api_tokens(older_than: timedelta, batch: int = BATCH) -> int:
    """Tokens that expired more than ``older_than`` ago (one is issued at every API sign-in); until then an expired
    or revoked token stays, to answer "why was I signed out?"."""
    return _prune("api_tokens", "expires_at", older_than, batch)


def prune(outbox_retention: timedelta, idempotency_retention: timedelta, token_retention: timedelta) -> dict[str, int]:
    """Prune every table; processed message ids live as long as the outbox keeps the messages they name."""
    return {
        "outbox": outbox(outbox_retention),
        "processed_messages": processed_messages(outbox_retention),
        "idempotency_keys": idempotency_keys(idempotency_retention),
        "api_tokens": api_tokens(token_retention),
    }


def _prune(table: str, column: str, older_than: timedelta, batch: int) -> int:
    deleted = 0
    while True:
        with transaction() as session:
            count = session.execute(
                text(
                    f"DELETE FROM {table} WHERE ctid = ANY(ARRAY("
                    f"SELECT ctid FROM {table} WHERE {column} < :cutoff "
                    f"ORDER BY {column} LIMIT :n FOR UPDATE SKIP LOCKED))"
                ),
                {"cutoff": utcnow() - older_than, "n": batch},
            ).rowcount
        deleted += count
        if count < batch:
            return deleted
