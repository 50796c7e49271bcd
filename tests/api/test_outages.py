"""Requests during a real outage of PostgreSQL or Redis get an answer: a clean 503 or a degraded success.

The outages are this run's own (a database created and dropped here, a Redis port nobody listens on), so the
machine's shared services are never stopped by the suite.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest
import requests

from tests.conftest import PG_ADMIN_DSN, PG_BASE_URL
from tests.services import free_port, start_web


@pytest.fixture
def server_without_database(server_env: dict[str, str], run_dir: Path) -> Iterator[str]:
    """A web server whose database exists at start and is dropped under it, as when PostgreSQL loses it."""
    name = f"atomicseats_outage_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(PG_ADMIN_DSN)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    proc, url = start_web({**server_env, "DATABASE_URL": f"{PG_BASE_URL}/{name}"}, run_dir)
    try:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        yield url
    finally:
        proc.stop()
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture
def server_without_redis(server_env: dict[str, str], run_dir: Path) -> Iterator[str]:
    """A web server on this run's database whose Redis URL points at a port where nothing listens."""
    env = {**server_env, "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0", "SOCKETIO_MESSAGE_QUEUE": ""}
    proc, url = start_web(env, run_dir)
    yield url
    proc.stop()


def test_database_outage_gets_503_with_retry_after_in_the_api_error_shape(server_without_database: str) -> None:
    r = requests.get(server_without_database + "/api/v1/events", timeout=30)
    assert r.status_code == 503
    assert r.headers["Retry-After"] == "5"
    assert r.json()["error"]["code"] == "service_unavailable"
    assert set(r.json()["error"]) == {"code", "message", "details"}


def test_database_outage_on_a_page_gets_a_plain_503(server_without_database: str) -> None:
    r = requests.get(server_without_database + "/", timeout=30)
    assert r.status_code == 503
    assert r.headers["Retry-After"] == "5"
    assert "unavailable" in r.text


def test_database_outage_leaves_liveness_up_and_readiness_names_postgresql(server_without_database: str) -> None:
    assert requests.get(server_without_database + "/health", timeout=30).status_code == 200
    ready = requests.get(server_without_database + "/ready", timeout=30)
    assert ready.status_code == 503
    assert "postgresql" in ready.json()["error"]["details"]["failing"]


def test_redis_outage_degrades_holds_to_postgresql_alone(server_without_redis: str, factory) -> None:
    """Redis is only the fast gate: without it a hold is still decided (and refused twice) by PostgreSQL."""
    event = factory.event()
    seat = factory.seat_ids(event.id)[0]
    first, second = factory.user(), factory.user()
    url = f"{server_without_redis}/api/v1/events/{event.id}/holds"
    won = requests.post(url, json={"seat_ids": [seat]}, headers=_auth(factory, first), timeout=30)
    lost = requests.post(url, json={"seat_ids": [seat]}, headers=_auth(factory, second), timeout=30)
    assert won.status_code == 201, won.text
    assert lost.status_code == 409
    assert lost.json()["error"]["details"]["unavailable_seat_ids"] == [seat]
    ready = requests.get(server_without_redis + "/ready", timeout=30)
    assert ready.status_code == 503
    assert set(ready.json()["error"]["details"]["failing"]) == {"redis"}


def test_without_redis_the_hold_rate_limit_still_counts_in_memory(server_env, run_dir: Path, factory) -> None:
    """The hold limit lives in Redis; while Redis is unreachable the web process counts in its own memory."""
    env = {
        **server_env,
        "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
        "SOCKETIO_MESSAGE_QUEUE": "",
        "HOLD_RATE_LIMIT": "2 per minute",
    }
    proc, base = start_web(env, run_dir)
    try:
        event = factory.event()
        seats = factory.seat_ids(event.id)
        user = factory.user()
        url = f"{base}/api/v1/events/{event.id}/holds"
        answers = [
            requests.post(url, json={"seat_ids": [seat]}, headers=_auth(factory, user), timeout=30)
            for seat in seats[:3]
        ]
        assert [a.status_code for a in answers] == [201, 409, 429]
        assert answers[2].json()["error"]["code"] == "rate_limited"
        assert 1 <= int(answers[2].headers["Retry-After"]) <= 60
        other = requests.post(url, json={"seat_ids": [seats[3]]}, headers=_auth(factory, factory.user()), timeout=30)
        assert other.status_code == 201  # per user, in memory as in Redis
    finally:
        proc.stop()


def _auth(factory, user) -> dict[str, str]:
    return {"Authorization": f"Bearer {factory.token(user)}"}
