"""Registering, authenticating and promoting users."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from redis.exceptions import RedisError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import make_transient_to_detached
from werkzeug.security import check_password_hash, generate_password_hash

from atomicseats import dbapi
from atomicseats.booking.idempotency import Created, IdempotencyRequest, Replay, run_once
from atomicseats.booking.tx import transaction
from atomicseats.exceptions import Conflict, Invalid, NotFound
from atomicseats.extensions import db, redis_ext
from atomicseats.models import User
from atomicseats.models.users import ROLES

log = logging.getLogger(__name__)

SELF_SERVICE_ROLES = ("attendee", "host")
MIN_PASSWORD_LENGTH = 10
# Compared against when the email is unknown, so that a miss costs as much time as a hit.
_DUMMY_HASH = generate_password_hash("timing-equaliser-password")


# A signed-in browser's every request starts with this (Flask-Login), straight on psycopg2 (atomicseats/dbapi.py).
_BY_ID = dbapi.Statement(
    "user_by_id", "SELECT id, email, name, password_hash, role, created_at FROM users WHERE id = %(u)s"
)


def load(user_id: int) -> User | None:
    """The signed-in browser's user, by the first statement of the request's transaction.

    Through ``dbapi``, so that a connection found dead (PostgreSQL restarted) is replaced and the read run
    again: a signed-in page right after a restart is answered, as an API request is.
    """
    row = dbapi.first(db.session, _BY_ID, {"u": user_id})
    return None if row is None else attach(row)


def attach(row: Any) -> User:
    """A ``User`` from a row of its columns, in the session as if the ORM had loaded it (no further query).

    A fraction of an ORM load, on the path of every request; the session's own copy wins if it has one.
    """
    session = db.session()
    user = session.identity_map.get(session.identity_key(User, row.id))
    if user is None:
        user = User(
            id=row.id,
            email=row.email,
            name=row.name,
            password_hash=row.password_hash,
            role=row.role,
            created_at=row.created_at,
        )
        make_transient_to_detached(user)
        session.add(user)
    return user


def normalise_email(email: str) -> str:
    return email.strip().lower()


def hash_password(password: str) -> str:
    """scrypt, Werkzeug's default: a memory-hard modern algorithm with a per-password salt."""
    return generate_password_hash(password, method="scrypt")


def sign_up(
    email: str, name: str, password: str, role: str, *, idempotency: IdempotencyRequest | None = None
) -> Created | Replay:
    """Register in a transaction of its own, with the ``Idempotency-Key``'s answer stored under the new user."""
    with transaction() as session:
        return run_once(
            session,
            idempotency,
            201,
            lambda: _registered(register(email, name, password, role)),
            owner=lambda result: result.obj.id,
        )


def _registered(user: User) -> Created:
    db.session.flush()
    return Created(user, user.to_dict())


def register(email: str, name: str, password: str, role: str = "attendee") -> User:
    """Create a user in the caller's transaction (:func:`sign_up` and the demo seeder own theirs); only attendees
    and hosts may sign themselves up."""
    if role not in SELF_SERVICE_ROLES:
        raise Invalid.field("role", f"must be one of {', '.join(SELF_SERVICE_ROLES)}")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise Invalid.field("password", f"must be at least {MIN_PASSWORD_LENGTH} characters")
    user = User(email=normalise_email(email), name=name.strip(), password_hash=hash_password(password), role=role)
    try:
        with db.session.begin_nested():
            db.session.add(user)
    except IntegrityError as exc:
        raise Conflict("An account with this email already exists.", code="email_taken") from exc
    return user


def authenticate(email: str, password: str) -> User | None:
    user = db.session.scalar(select(User).where(User.email == normalise_email(email)))
    if user is None:
        check_password_hash(_DUMMY_HASH, password)
        return None
    return user if check_password_hash(user.password_hash, password) else None


def set_role(user_id: int, role: str) -> User:
    """Give the user ``role``, committed."""
    if role not in ROLES:
        raise Invalid.field("role", f"must be one of {', '.join(ROLES)}")
    with transaction() as session:
        user = session.get(User, user_id)
        if user is None:
            raise NotFound("No such user.")
        user.role = role
    access_changed()
    return user


def access_epoch() -> str | None:
    """The current access epoch: a random value that changes whenever any account's access does (a role
    changed, a token revoked). What a process learnt about a caller under one epoch is stale under the next.

    A Redis that lost it (wiped, restarted) gets a fresh random epoch, never an old one again. None when Redis
    is unreachable: the caller then trusts nothing it kept and asks PostgreSQL.
    """
    key = redis_ext.key("accounts", "access")
    try:
        epoch = redis_ext.client.get(key)
        if epoch is None:
            fresh = uuid.uuid4().hex
            epoch = fresh.encode() if redis_ext.client.set(key, fresh, nx=True) else redis_ext.client.get(key)
        return None if epoch is None else epoch.decode()
    except RedisError:
        return None


def access_changed() -> None:
    """After a change to someone's access is committed: every process forgets what it learnt before."""
    try:
        redis_ext.client.set(redis_ext.key("accounts", "access"), uuid.uuid4().hex)
    except RedisError as exc:  # processes keep what they knew for at most API_TOKEN_CACHE_SECONDS
        log.warning("could not announce an access change to other processes: %s", exc)


def create_admin(email: str, name: str, password: str) -> User:
    """Used by the CLI: admins are never self-service. Committed."""
    with transaction():
        user = register(email, name, password, role="attendee")
        user.role = "admin"
    return user
