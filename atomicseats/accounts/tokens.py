"""Opaque bearer tokens for the API; the database keeps only their SHA-256."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

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


# One statement on the hot path of every API call, straight on psycopg2 (atomicseats/dbapi.py).
_RESOLVE = dbapi.Statement(
    "token_resolve",
    "SELECT u.id, u.email, u.name, u.password_hash, u.role, u.created_at, t.id AS token_id "
    "FROM api_tokens t JOIN users u ON u.id = t.user_id "
    "WHERE t.token_hash = %(h)s AND t.revoked_at IS NULL AND t.expires_at > %(now)s",
)


def resolve(plain: str, now: datetime | None = None) -> tuple[User, int] | None:
    """The user and token id for a presented bearer token, if it is live (the user as :func:`users.attach`)."""
    row = dbapi.first(db.session, _RESOLVE, {"h": _digest(plain), "now": now or utcnow()})
    if row is None:
        return None
    return users.attach(row), row.token_id


def revoke(token_id: int, now: datetime | None = None) -> None:
    """End the token now, committed (revoking one already revoked changes nothing)."""
    with transaction() as session:
        session.execute(
            update(ApiToken)
            .where(ApiToken.id == token_id, ApiToken.revoked_at.is_(None))
            .values(revoked_at=now or utcnow())
        )
