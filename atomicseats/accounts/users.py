"""Registering, authenticating and promoting users."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash

from atomicseats.exceptions import Conflict, Invalid, NotFound
from atomicseats.extensions import db
from atomicseats.models import User
from atomicseats.models.users import ROLES

SELF_SERVICE_ROLES = ("attendee", "host")
MIN_PASSWORD_LENGTH = 10
# Compared against when the email is unknown, so that a miss costs as much time as a hit.
_DUMMY_HASH = generate_password_hash("timing-equaliser-password")


def normalise_email(email: str) -> str:
    return email.strip().lower()


def hash_password(password: str) -> str:
    """scrypt, Werkzeug's default: a memory-hard modern algorithm with a per-password salt."""
    return generate_password_hash(password, method="scrypt")


def register(email: str, name: str, password: str, role: str = "attendee") -> User:
    """Create a user; only attendees and hosts may sign themselves up. The caller commits."""
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
    if role not in ROLES:
        raise Invalid.field("role", f"must be one of {', '.join(ROLES)}")
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound("No such user.")
    user.role = role
    return user


def create_admin(email: str, name: str, password: str) -> User:
    """Used by the CLI: admins are never self-service."""
    user = register(email, name, password, role="attendee")
    user.role = "admin"
    return user
