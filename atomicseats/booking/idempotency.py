"""``Idempotency-Key`` for creating POSTs: a repeat with the same key and user gets the first answer.

The key's row is written in the same transaction as the thing it created, and a transaction-scoped
advisory lock on (user, key) makes a concurrent repeat wait for the first request and then replay it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from atomicseats import dbapi
from atomicseats.booking.tx import transaction
from atomicseats.exceptions import Invalid

MAX_KEY_LENGTH = 255

# Prepared statements (atomicseats/dbapi.py): every checkout and keyed hold runs them.
_LOCK = dbapi.Statement("idempotency_lock", "SELECT pg_advisory_xact_lock(hashtextextended(%(k)s, %(u)s))")
_STORED = dbapi.Statement(
    "idempotency_stored",
    "SELECT request_hash, status_code, response FROM idempotency_keys "
    "WHERE key = %(k)s AND (%(u)s::bigint IS NULL OR user_id = %(u)s::bigint)",
)
_STORE = dbapi.Statement(
    "idempotency_store",
    "INSERT INTO idempotency_keys (user_id, key, request_hash, status_code, response, created_at) "
    "VALUES (%(u)s, %(k)s, %(h)s, %(s)s, %(r)s::jsonb, now())",
)


@dataclass(frozen=True)
class Replay:
    status: int
    body: dict[str, Any]


@dataclass(frozen=True)
class Created:
    """What a creating operation made, and the answer it gave (stored for replays)."""

    obj: Any
    body: dict[str, Any]


@dataclass(frozen=True)
class IdempotencyRequest:
    """``user_id`` None: a caller not signed in (registration). Such a key is global, stored as ``anon:<sha256>``
    under the user the request created, and looked up by key alone."""

    user_id: int | None
    key: str
    fingerprint: str

    @classmethod
    def build(cls, user_id: int | None, key: str | None, scope: str, payload: Any) -> IdempotencyRequest | None:
        if key is None:
            return None
        key = key.strip()
        if not key or len(key) > MAX_KEY_LENGTH:
            raise Invalid.field("Idempotency-Key", f"must be 1 to {MAX_KEY_LENGTH} characters")
        if user_id is None:
            key = "anon:" + hashlib.sha256(key.encode()).hexdigest()
        canonical = json.dumps({"scope": scope, "payload": payload}, sort_keys=True, default=str)
        return cls(user_id, key, hashlib.sha256(canonical.encode()).hexdigest())

    def _begin(self, session: Session) -> Replay | None:
        """Serialise on (user, key); return the stored answer if this key was used before."""
        dbapi.rows(session, _LOCK, {"k": self.key, "u": self.user_id or 0})
        return self.stored(session)

    def stored(self, session: Session) -> Replay | None:
        """The answer a finished request with this key gave, without waiting for one still running."""
        row = dbapi.first(session, _STORED, {"u": self.user_id, "k": self.key})
        if row is None:
            return None
        if row.request_hash != self.fingerprint:
            raise Invalid(
                "This Idempotency-Key was already used for a different request.",
                code="idempotency_key_reused",
                details={"fields": {"Idempotency-Key": "already used with a different request"}},
            )
        return Replay(row.status_code, row.response)

    def _finish(self, session: Session, status: int, body: dict[str, Any], owner_id: int | None = None) -> None:
        """Store the answer; ``owner_id`` is the user an anonymous request created."""
        dbapi.rows(
            session,
            _STORE,
            {
                "u": self.user_id or owner_id,
                "k": self.key,
                "h": self.fingerprint,
                "s": status,
                "r": json.dumps(body, default=str),
            },
        )


def run_once(
    session: Session,
    idempotency: IdempotencyRequest | None,
    status: int,
    create: Callable[[], Created],
    *,
    owner: Callable[[Created], int] | None = None,
) -> Created | Replay:
    """Run ``create`` in the caller's transaction, or replay the first answer if this key was used before.

    The key is locked before ``create`` runs and its answer stored after, in the same transaction, so the key
    and what it made commit or roll back together. ``owner`` names the user an anonymous request created
    (registration), under whom its key is stored.
    """
    if idempotency is not None and (replay := idempotency._begin(session)) is not None:
        return replay
    result = create()
    if idempotency is not None:
        idempotency._finish(session, status, result.body, owner_id=owner(result) if owner else None)
    return result


def stored_answer(idempotency: IdempotencyRequest | None) -> Replay | None:
    """The first answer to a repeated key, read before a check that the first request changed the outcome of.

    A hold on a queued event spends its admission token: checked first, the token would refuse the very
    retry the key exists for. A request still running is not waited for here; ``run_once`` serialises it.
    """
    if idempotency is None:
        return None
    with transaction() as session:
        return idempotency.stored(session)
