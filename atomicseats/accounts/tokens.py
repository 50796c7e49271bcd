"""Opaque bearer tokens for the API; the database keeps only their SHA-256."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import BigInteger, column, select, text, update

from atomicseats.extensions import db
from atomicseats.models import ApiToken, User
from atomicseats.models.base import utcnow


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue(user: User, ttl_seconds: int, now: datetime | None = None) -> tuple[str, ApiToken]:
    """Return the plain token (shown once) and its row. The caller commits."""
    now = now or utcnow()
    plain = secrets.token_urlsafe(32)
    row = ApiToken(
        user_id=user.id, token_hash=_digest(plain), created_at=now, expires_at=now + timedelta(seconds=ttl_seconds)
    )
    db.session.add(row)
    return plain, row


# One statement on the hot path of every API call, loading only the user (the token id rides along).
_RESOLVE_SQL = text(
    "SELECT u.*, t.id AS token_id FROM api_tokens t JOIN users u ON u.id = t.user_id "
    "WHERE t.token_hash = :h AND t.revoked_at IS NULL AND t.expires_at > :now"
).columns(*User.__table__.columns, column("token_id", BigInteger))
_RESOLVE = select(User, _RESOLVE_SQL.selected_columns.token_id).from_statement(_RESOLVE_SQL)


def resolve(plain: str, now: datetime | None = None) -> tuple[User, int] | None:
    """The user and token id for a presented bearer token, if it is live."""
    row = db.session.execute(_RESOLVE, {"h": _digest(plain), "now": now or utcnow()}).first()
    return (row[0], row[1]) if row else None


def revoke(token_id: int, now: datetime | None = None) -> None:
    db.session.execute(
        update(ApiToken)
        .where(ApiToken.id == token_id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=now or utcnow())
    )
