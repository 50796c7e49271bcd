"""Two web processes behind one Redis: a change made through one reaches seat maps connected to the other.

This is what lets the web tier scale out (docs/decisions/0002-threading-web-server.md): each process has its
own Socket.IO clients, and Flask-SocketIO's Redis message queue carries every emit to all of them.
"""

from __future__ import annotations

import queue
from collections.abc import Iterator
from contextlib import contextmanager
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


@contextmanager
def joined_seat_map(url: str, event_id: int) -> Iterator[tuple[dict, queue.Queue[dict]]]:
    """A seat map connected to ``url`` and in the event's room: its full state, and the queue of later updates."""
    updates: queue.Queue[dict] = queue.Queue()
    seat_map = socketio.Client(reconnection=False)
    seat_map.on("seat_status", updates.put)
    seat_map.connect(url, transports=["websocket"], wait_timeout=10)
    try:
        assert seat_map.call("join_event", {"event_id": event_id}, timeout=10) == {"ok": True}
        full = updates.get(timeout=10)
        assert full["full"] is True
        yield full, updates
    finally:
        seat_map.disconnect()


def test_seat_status_from_a_hold_on_process_a_reaches_a_seat_map_on_process_b(two_web_processes, factory) -> None:
    url_a, url_b = two_web_processes
    event = factory.event()
    seat = factory.seat_ids(event.id)[0]
    token = factory.token(factory.user())
    with joined_seat_map(url_b, event.id) as (full, updates):
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


def test_joining_sends_the_full_map_to_the_joiner_alone_not_through_the_message_queue(
    live_server, factory, redis_client, settings
) -> None:
    """A sale opening means hundreds of joins at once. Each full map is the size of the event (700 KB for 20,000
    seats); published on the queue, every web process had to read every one, Redis dropped the lagging
    subscriber at its pub/sub output-buffer limit, and seat updates published until it reconnected were lost
    for every map (found by ``bench/live.py``). Only changes for many maps belong on the queue."""
    event = factory.event()
    name = settings["REDIS_PREFIX"] + "socketio"
    channel = redis_client.pubsub()
    try:
        channel.subscribe(name)
        assert channel.get_message(timeout=5)["type"] == "subscribe"
        with joined_seat_map(live_server, event.id) as (full, _):
            assert len(full["seats"]) == len(factory.seat_ids(event.id))
            # The server emits before it acks, so whatever the join published reached Redis before this marker
            # (the web processes' listeners skip it: it is not a Socket.IO message).
            redis_client.publish(name, b"end-of-join")
            published = []
            while (message := channel.get_message(timeout=5)) is not None and message["data"] != b"end-of-join":
                published.append(message["data"][:80])
            assert message is not None, "the marker never came back"
            assert published == []
    finally:
        channel.close()
