"""Request parsing shared by the API routes: JSON bodies, idempotency keys, cursor pages."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any, TypeVar

from flask import jsonify, request
from pydantic import BaseModel
from werkzeug.exceptions import BadRequest

from atomicseats.booking.idempotency import IdempotencyRequest, Replay
from atomicseats.booking.specs import parse
from atomicseats.exceptions import Invalid

M = TypeVar("M", bound=BaseModel)
DEFAULT_LIMIT = 20
MAX_LIMIT = 100


def json_body(model: type[M]) -> M:
    """Parse the body as ``model``: 400 when it is not a JSON object, 422 naming each bad field."""
    if not request.is_json:
        raise BadRequest("Send a JSON object with 'Content-Type: application/json'.")
    raw = request.get_data(cache=True)
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise BadRequest(f"The body is not valid JSON: {exc}.") from exc
    if not isinstance(data, dict):
        raise BadRequest("The body must be a JSON object.")
    if (where := _unstorable(data)) is not None:
        raise Invalid.field(where or "body", "contains a NUL or an unpaired surrogate, which cannot be stored")
    return parse(model, data)


def _unstorable(value: Any, path: str = "") -> str | None:
    """The path of the first string PostgreSQL cannot store (NUL, lone surrogates), or None when there is none."""
    if isinstance(value, str):
        return path if "\x00" in value or not _encodable(value) else None
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        name = f"{path}.{key}" if path else str(key)
        if isinstance(key, str) and (_unstorable(key) is not None):
            return name
        if (found := _unstorable(item, name)) is not None:
            return found
    return None


def _encodable(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def reject_unstorable_args() -> None:
    """Query strings and headers never reach SQL with a NUL or a lone surrogate in them (422, not a 500)."""
    for name, value in request.args.items(multi=True):
        if _unstorable(value) is not None or _unstorable(name) is not None:
            raise Invalid.field(name if _encodable(name) else "query", "contains characters that are not allowed")


def raw_json() -> Any:
    return request.get_json(silent=True, cache=True)


def idempotency_for(user_id: int, scope: str) -> IdempotencyRequest | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:  # most requests: no need to parse the body a second time for a fingerprint
        return None
    return IdempotencyRequest.build(user_id, key, scope, raw_json())


def created(result: Any, status: int = 201):
    """A creating POST's answer (a Created), or the first answer replayed for a repeated Idempotency-Key."""
    response = jsonify(result.body)
    response.status_code = result.status if isinstance(result, Replay) else status
    if isinstance(result, Replay):
        response.headers["Idempotent-Replayed"] = "true"
    return response


def page_args() -> tuple[int, dict[str, Any] | None]:
    """``limit`` (1..100, default 20) and the decoded ``cursor`` (opaque to clients)."""
    raw_limit = request.args.get("limit", str(DEFAULT_LIMIT))
    if not is_number(raw_limit) or not 1 <= int(raw_limit) <= MAX_LIMIT:
        raise Invalid.field("limit", f"must be a whole number from 1 to {MAX_LIMIT}")
    cursor = request.args.get("cursor")
    return int(raw_limit), decode_cursor(cursor) if cursor else None


def decode_cursor(cursor: str) -> dict[str, Any]:
    """The position an ``encode_cursor`` string holds; 422 naming ``cursor`` for anything else."""
    try:
        decoded = json.loads(base64.urlsafe_b64decode(cursor.encode() + b"=" * (-len(cursor) % 4)))
    except ValueError as exc:
        raise Invalid.field("cursor", "is not a cursor this API gave out") from exc
    if not isinstance(decoded, dict):
        raise Invalid.field("cursor", "is not a cursor this API gave out")
    return decoded


def is_number(value: str) -> bool:
    """ASCII digits only: ``str.isdigit`` also accepts ``²``, which ``int()`` refuses."""
    return value.isascii() and value.isdigit()


def encode_cursor(position: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(position, default=str).encode()).decode().rstrip("=")


def datetime_arg(name: str) -> datetime | None:
    """A query-string date-time with a zone; absent means None, anything else unparseable is 422."""
    value = request.args.get(name)
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise Invalid.field(name, "must be an ISO 8601 date or date-time") from exc
    if parsed.tzinfo is None:
        raise Invalid.field(name, "must include a time zone, e.g. 2026-12-01T19:00:00+00:00")
    try:
        return parsed.astimezone(UTC)  # PostgreSQL refuses offsets beyond ±15:59, which Python accepts
    except OverflowError as exc:
        raise Invalid.field(name, "is out of range") from exc
