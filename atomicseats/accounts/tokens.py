"""Opaque bearer tokens for the API; the database keeps only their SHA-256."""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import update

from atomicseats import dbapi
from atomicseats.accounts import users
from atomicseats.booking.tx import transaction
from atomicseats.extensions import db
from atomicseats.models import ApiToken, User
from atomicseats.models.base import utcnow


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue(user: User, ttl_seconds: int, now: datetime | None = None) -> tuple[str, ApiToken]:
    """Return the plain token (shown once) and its row, committed: the caller can hand the token out at once."""
    now = now or utcnow()
    plain = secrets.token_urlsafe(32)
    row = ApiToken(
        user_id=user.id, token_hash=_digest(plain), created_at=now, expires_at=now + timedelta(seconds=ttl_seconds)
    )
    with transaction() as session:
        session.add(row)
    return plain, row


# The statement behind every API call whose token this process has not resolved lately (atomicseats/dbapi.py).
_RESOLVE = dbapi.Statement(
    "token_resolve",
    "SELECT u.id, u.email, u.name, u.password_hash, u.role, u.created_at, t.id AS token_id, t.expires_at "
    "FROM api_tokens t JOIN users u ON u.id = t.user_id "
    "WHERE t.token_hash = %(h)s AND t.revoked_at IS NULL AND t.expires_at > %(now)s",
)
_CACHE_LIMIT = 50_000  # tokens per process; past it the cache starts over


@dataclass(frozen=True)
class _Resolved:
    row: Any
    epoch: str
    fresh_until: float  # time.monotonic()


# A buyer polling its booking presents the same token ten times a second. Asking PostgreSQL each time took a
# pooled connection for the whole request, even for answers that need none (a refusal from the Redis gate),
# and requests queued for connections. A process keeps what it resolved for API_TOKEN_CACHE_SECONDS, under
# the access epoch it read first (accounts/users.py): a revocation or a role change anywhere starts a new
# epoch, and the next request everywhere asks PostgreSQL again.
_resolved: dict[str, _Resolved] = {}


def resolve(plain: str, now: datetime | None = None) -> tuple[User, int] | None:
    """The user and token id for a presented bearer token, if it is live (the user as :func:`users.attach`)."""
    digest, now = _digest(plain), now or utcnow()
    keep = current_app.config["API_TOKEN_CACHE_SECONDS"]
    epoch = users.access_epoch() if keep > 0 else None  # read before PostgreSQL: a change after it is seen
    known = _resolved.get(digest)
    if (
        known is not None
        and epoch is not None
        and known.epoch == epoch
        and known.fresh_until > time.monotonic()
        and known.row.expires_at > now
    ):
        row = known.row
    else:
        row = dbapi.first(db.session, _RESOLVE, {"h": digest, "now": now})
        if row is None:
            _resolved.pop(digest, None)
            return None
        if epoch is not None:
            if len(_resolved) >= _CACHE_LIMIT:
                _resolved.clear()
            _resolved[digest] = _Resolved(row, epoch, time.monotonic() + keep)
    return users.attach(row), row.token_id


def revoke(token_id: int, now: datetime | None = None) -> None:
    """End the token now, committed (revoking one already revoked changes nothing)."""
    with transaction() as session:
        session.execute(
            update(ApiToken)
            .where(ApiToken.id == token_id, ApiToken.revoked_at.is_(None))
            .values(revoked_at=now or utcnow())
        )
    users.access_changed()
