"""Column helpers shared by the models."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """The one clock of the application: timezone-aware UTC."""
    return datetime.now(UTC)
