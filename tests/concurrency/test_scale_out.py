"""Several realtime processes behind one Redis: a change made through the web process reaches maps on each.

This is what lets live updates scale out (docs/decisions/0001-realtime-process.md): each realtime process has
its own Socket.IO clients; seat changes reach every process on the seat channel, per-user messages on
python-socketio's message queue, and each process sends them to its own clients.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from atomicseats import realtime
from tests.seatmaps import joined_seat_map
from tests.services import start_realtime, wait_for


@pytest.fixture
def second_realtime(server_env: dict[str, str], run_dir: Path, app) -> Iterator[str]:
    log_dir = run_dir / "realtime-b"
    log_dir.mkdir(exist_ok=True)
    proc, url = start_realtime(server_env, log_dir)
    yield url
    proc.stop()


def test_seat_status_from_a_hold_reaches_seat_maps_on_two_realtime_processes(
    live_server, realtime_server, second_realtime, factory
) -> None:
    event = factory.event()
    seat = factory.seat_ids(event.id)[0]
    token = factory.token(factory.user())
    with (
        joined_seat_map(realtime_server, event.id) as (_, full_a, updates_a),
        joined_seat_map(second_realtime, event.id) as (_, full_b, updates_b),
    ):
        assert {s["id"]: s["status"] for s in full_a["seats"]}[seat] == "available"
        assert full_b["seats"] == full_a["seats"]

        r = requests.post(
            f"{live_server}/api/v1/events/{event.id}/holds",
            json={"seat_ids": [seat]},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        assert r.status_code == 201, r.text

        for updates in (updates_a, updates_b):
            update = updates.get(timeout=10)
            assert update["event_id"] == event.id
            assert update["seats"] == [{"id": seat, "status": "held"}]
            assert update["availability"]["held"] == 1


def test_a_holders_own_messages_reach_the_socket_its_token_names_through_the_message_queue(
    live_server, realtime_server, factory, settings
) -> None:
    event = factory.event()
    user, other = factory.user(), factory.user()
    mine = realtime.make_token(settings["SECRET_KEY"], user.id)
    theirs = realtime.make_token(settings["SECRET_KEY"], other.id)
    with (
        joined_seat_map(realtime_server, event.id, token=mine) as (client, _, _),
        joined_seat_map(realtime_server, event.id, token=theirs) as (other_client, _, _),
    ):
        got: list[dict] = []
        client.on("hold_updated", got.append)
        stray: list[dict] = []
        other_client.on("hold_updated", stray.append)
        r = requests.post(
            f"{live_server}/api/v1/events/{event.id}/holds",
            json={"quantity": 1},
            headers={"Authorization": f"Bearer {factory.token(user)}"},
            timeout=10,
        )
        assert r.status_code == 201, r.text
        wait_for(lambda: got, 10, "hold_updated on the holder's socket")
        assert got[0]["id"] == r.json()["id"]
        # Both sockets are on one process and the message went out once: had it reached the other user's socket,
        # it would have arrived there before this acknowledged call returned.
        assert client.call("leave_event", {"event_id": event.id}, timeout=10) == {"ok": True}
        assert other_client.call("leave_event", {"event_id": event.id}, timeout=10) == {"ok": True}
        assert stray == []


def test_joining_sends_the_full_map_to_the_joiner_alone_not_through_redis(
    realtime_server, factory, redis_client, settings
) -> None:
    """A sale opening means hundreds of joins at once. Each full map is the size of the event (700 KB for 20,000
    seats); published on Redis, every realtime process would read every one, and Redis drops a subscriber that
    lags past its pub/sub output-buffer limit, losing the seat updates meant for all its maps. Only changes for
    many maps belong on Redis."""
    event = factory.event()
    names = [realtime.queue_channel(settings["REDIS_PREFIX"]), realtime.seats_channel(settings["REDIS_PREFIX"])]
    channel = redis_client.pubsub()
    try:
        channel.subscribe(*names)
        for _ in names:
            assert channel.get_message(timeout=5)["type"] == "subscribe"
        with joined_seat_map(realtime_server, event.id) as (_, full, _):
            assert len(full["seats"]) == len(factory.seat_ids(event.id))
            # The server sends the map before it acks, so whatever the join published reached Redis before this
            # marker (a realtime process skips it: it is neither a Socket.IO message nor a seat change).
            redis_client.publish(names[0], b"end-of-join")
            published = []
            while (message := channel.get_message(timeout=5)) is not None and message["data"] != b"end-of-join":
                published.append(message["data"][:80])
            assert message is not None, "the marker never came back"
            assert published == []
    finally:
        channel.close()
