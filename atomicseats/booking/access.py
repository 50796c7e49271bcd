"""Who may see and who may change an event: one rule for the engine, the API and the pages."""

from __future__ import annotations

from typing import Any

from atomicseats.models import User


def may_manage(event: Any, user: User | None) -> bool:
    """The event's host and admins may change it. ``event`` is an ``Event`` or a row with ``host_id``."""
    return user is not None and (user.role == "admin" or event.host_id == user.id)


def may_see(event: Any, user: User | None) -> bool:
    """Anyone sees a published event; a draft only those who may manage it (to everyone else it does not exist)."""
    return event.status != "draft" or may_manage(event, user)
