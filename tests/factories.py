"""Test data through the real services: users, tokens and events are made the way the app makes them."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import requests
from flask import Flask
from flask.testing import FlaskClient

from atomicseats.accounts import tokens, users
from atomicseats.booking import inventory
from atomicseats.booking.specs import EventSpec
from atomicseats.extensions import db
from atomicseats.models import Event, User
from atomicseats.models.base import utcnow

PASSWORD = "correct-horse-battery"
_counter = itertools.count(1)
_password_hash: str | None = None


def reserved_sections(sections: int = 1, rows: int = 2, seats: int = 10, price_cents: int = 4500) -> list[dict]:
    labels = iter("ABCDEFGHJKLMNPQRSTUVWXYZ")
    return [
        {
            "name": f"Section {s + 1}",
            "price_cents": price_cents - 1000 * s,
            "rows": [{"label": next(labels), "seats": seats} for _ in range(rows)],
        }
        for s in range(sections)
    ]


def event_payload(seating: str = "reserved", **overrides: Any) -> dict[str, Any]:
    starts = (utcnow() + timedelta(days=10)).replace(microsecond=0)
    body: dict[str, Any] = {
        "name": f"Event {next(_counter)}",
        "description": "A test event.",
        "venue": "Test Hall",
        "starts_at": starts.isoformat(),
        "ends_at": (starts + timedelta(hours=2)).isoformat(),
        "seating": seating,
    }
    if seating == "reserved":
        body["sections"] = reserved_sections()
    else:
        body.update(capacity=100, price_cents=2000)
    body.update(overrides)
    return body


class Factory:
    def __init__(self, app: Flask):
        self.app = app

    def user(self, role: str = "attendee", email: str | None = None, name: str = "Test User") -> User:
        """A user with the shared test password; hashing it once keeps hundreds of users cheap."""
        global _password_hash
        with self.app.app_context():
            if _password_hash is None:
                _password_hash = users.hash_password(PASSWORD)
            user = User(
                email=email or f"user{next(_counter)}@example.com",
                name=name,
                password_hash=_password_hash,
                role=role,
            )
            db.session.add(user)
            db.session.commit()
            db.session.refresh(user)
            db.session.expunge(user)
            return user

    def token(self, user: User) -> str:
        with self.app.app_context():
            plain, _ = tokens.issue(user, 3600)
            return plain

    def event(self, host: User | None = None, publish: bool = True, **overrides: Any) -> Event:
        host = host or self.user("host")
        spec = EventSpec.model_validate(event_payload(**overrides))
        with self.app.app_context():
            host = db.session.merge(host)
            event = inventory.create_event(host, spec).obj
            if publish:
                event = inventory.publish_event(event.id, host)
            db.session.refresh(event)
            db.session.expunge(event)
            return event

    def seat_ids(self, event_id: int) -> list[int]:
        with self.app.app_context():
            from sqlalchemy import text

            return list(
                db.session.scalars(text("SELECT id FROM seats WHERE event_id = :e ORDER BY id"), {"e": event_id})
            )


@dataclass
class Response:
    status: int
    body: Any
    headers: dict[str, str]


class ApiClient:
    """The JSON API through Flask's test client, as a given user (or anonymous)."""

    def __init__(self, client: FlaskClient, factory: Factory, token: str | None = None):
        self.client = client
        self.factory = factory
        self.token = token

    def as_(self, user: User) -> ApiClient:
        return ApiClient(self.client, self.factory, self.factory.token(user))

    def request(self, method: str, path: str, json: Any = None, headers: dict | None = None, **kw: Any) -> Response:
        all_headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        all_headers.update(headers or {})
        resp = self.client.open("/api/v1" + path, method=method, json=json, headers=all_headers, **kw)
        return Response(resp.status_code, resp.get_json(silent=True), dict(resp.headers))

    def get(self, path: str, **kw: Any) -> Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, json: Any = None, **kw: Any) -> Response:
        return self.request("POST", path, json=json, **kw)

    def patch(self, path: str, json: Any = None, **kw: Any) -> Response:
        return self.request("PATCH", path, json=json, **kw)

    def delete(self, path: str, **kw: Any) -> Response:
        return self.request("DELETE", path, **kw)


class LiveApi:
    """The JSON API of a running server over HTTP, with a keep-alive session per client."""

    def __init__(self, base_url: str, token: str | None = None):
        self.base_url = base_url
        self.session = requests.Session()
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def request(self, method: str, path: str, **kw: Any) -> Response:
        resp = self.session.request(method, self.base_url + "/api/v1" + path, timeout=30, **kw)
        try:
            body = resp.json()
        except ValueError:
            body = None
        return Response(resp.status_code, body, dict(resp.headers))

    def get(self, path: str, **kw: Any) -> Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, json: Any = None, **kw: Any) -> Response:
        return self.request("POST", path, json=json, **kw)

    def delete(self, path: str, **kw: Any) -> Response:
        return self.request("DELETE", path, **kw)
