"""Column helpers shared by the models."""

from __future__ import annotations

from datetime import UTC, datetime

# Every id column is a PostgreSQL bigint. The hot path's prepared statements type their parameters, so a larger
# number must be turned away before it reaches them ("bigint out of range" would be a 500).
MAX_ID = 2**63 - 1


def utcnow() -> datetime:
    """The one clock of the application: timezone-aware UTC."""
    return datetime.now(UTC)
