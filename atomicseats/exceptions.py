"""Domain errors with stable short codes.

The engine and the account services raise these; ``atomicseats.errors`` turns them into HTTP answers
(SPEC's JSON error shape under /api, a flash message or an error page elsewhere). The class says what
kind of failure it is, the code says which one.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """``retry_after``: seconds after which the same request may succeed (sent as ``Retry-After``)."""

    code = "domain_error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        details: dict[str, Any] | None = None,
        retry_after: int | None = None,
    ):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details or {}
        self.retry_after = retry_after


class NotFound(DomainError):
    code = "not_found"


class Forbidden(DomainError):
    code = "forbidden"


class Conflict(DomainError):
    code = "conflict"


class Expired(DomainError):
    code = "expired"


class Busy(DomainError):
    """Another operation holds what this one needs, past the lock timeout; nothing was changed."""

    code = "busy"


class Invalid(DomainError):
    """A field-level problem; ``details.fields`` maps field names to messages."""

    code = "validation_failed"

    @classmethod
    def field(cls, name: str, message: str) -> Invalid:
        return cls(f"{name}: {message}", details={"fields": {name: message}})
