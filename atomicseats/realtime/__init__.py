"""Names and tokens that the web process and the realtime process (``atomicseats.realtime.server``) share.

Socket.IO is served by a process of its own (docs/decisions/0001-realtime-process.md). It reads no Flask
session cookie, so a page tells it who the browser is with a short-lived token signed with ``SECRET_KEY``.
"""

from __future__ import annotations

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

_SALT = "realtime"


class BadToken(Exception):
    """A token that this deployment never signed: the client is refused, not treated as anonymous."""


def event_room(event_id: int) -> str:
    return f"event:{event_id}"


def user_room(user_id: int) -> str:
    return f"user:{user_id}"


def queue_channel(prefix: str) -> str:
    """python-socketio's message queue (per-user messages, event status): every process emits on it."""
    return prefix + "socketio"


def seats_channel(prefix: str) -> str:
    """Seat changes in ``seat_status`` shape, which each realtime process coalesces per tick for its own maps."""
    return prefix + "seats"


def users_channel(prefix: str) -> str:
    """Per-user messages sent to many users at once, each their own part (a queue's draw: each person's place)."""
    return prefix + "users"


def make_token(secret_key: str, user_id: int) -> str:
    return URLSafeTimedSerializer(secret_key, salt=_SALT).dumps({"user_id": user_id})


def read_token(secret_key: str, token: str, max_age: int) -> int | None:
    """The user id in ``token``; None once it has expired (the map still works, without the user's own room).

    Raises :class:`BadToken` for anything not signed with this key.
    """
    try:
        data = URLSafeTimedSerializer(secret_key, salt=_SALT).loads(token, max_age=max_age)
    except SignatureExpired:
        return None
    except BadSignature as exc:
        raise BadToken(str(exc)) from exc
    user_id = data.get("user_id") if isinstance(data, dict) else None
    if not isinstance(user_id, int):
        raise BadToken("no user id")
    return user_id
