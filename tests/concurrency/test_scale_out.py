"""Two web processes behind one Redis: a change made through one reaches seat maps connected to the other.

This is what lets the web tier scale out (README, "Decisions"): each process has its own Socket.IO clients,
and Flask-SocketIO's Redis message queue carries every emit to all of them.
"""

from __future__ import annotations

import queue
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import socketio

from tests.services import start_web


@pytest.fixture
def two_web_processes(server_env: dict[str, str], run_dir: Path, app) -> Iterator[tuple[str, str]]:
    urls, procs = [], []
    try:
        for name in ("web-a", "web-b"):
            log_dir = run_dir / name
            log_dir.mkdir(exist_ok=True)
            proc, url = start_web(server_env, log_dir)
            procs.append(proc)
            urls.append(url)
        yield urls[0], urls[1]
    finally:
        for proc in procs:
            proc.stop()


def test_seat_status_from_a_hold_on_process_a_reaches_a_seat_map_on_process_b(two_web_processes, factory) -> None:
    url_a, url_b = two_web_processes
    event = factory.event()
    seat = factory.seat_ids(event.id)[0]
    token = factory.token(factory.user())
    updates: queue.Queue[dict] = queue.Queue()
    seat_map = socketio.Client(reconnection=False)
    seat_map.on("seat_status", updates.put)
    seat_map.connect(url_b, transports=["websocket"], wait_timeout=10)
    try:
        assert seat_map.call("join_event", {"event_id": event.id}, timeout=10) == {"ok": True}
        full = updates.get(timeout=10)
        assert full["full"] is True
        assert {s["id"]: s["status"] for s in full["seats"]}[seat] == "available"

        r = requests.post(
            f"{url_a}/api/v1/events/{event.id}/holds",
            json={"seat_ids": [seat]},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        assert r.status_code == 201, r.text

        update = updates.get(timeout=10)
        assert update["event_id"] == event.id
        assert update["seats"] == [{"id": seat, "status": "held"}]
        assert update["availability"]["held"] == 1
    finally:
        seat_map.disconnect()
