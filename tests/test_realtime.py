"""The realtime process as shipped (Procfile ``realtime:``): open maps cost the site nothing, updates coalesce,
reconnecting maps resync, and clients that misbehave are disconnected."""

from __future__ import annotations

import gc
import json
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
import requests
import socketio
import websocket

from atomicseats import realtime
from atomicseats.realtime.server import FullCollections
from tests.factories import LiveApi, reserved_sections
from tests.seatmaps import Crowd, drain, joined_seat_map, user_page
from tests.services import Process, free_port, procfile_command, start_realtime, wait_for, wait_healthy


def metric(realtime_server: str, name: str) -> float:
    for line in requests.get(f"{realtime_server}/metrics", timeout=10).text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_with_300_maps_open_health_a_hold_and_the_event_page_answer_and_every_map_hears_the_hold(
    live_server, realtime_server, factory
) -> None:
    event = factory.event()
    seat = factory.seat_ids(event.id)[0]
    buyer = LiveApi(live_server, factory.token(factory.user()))
    with Crowd(realtime_server, event.id, 300) as crowd:
        assert metric(realtime_server, "atomicseats_realtime_open_maps") == 300
        assert requests.get(f"{live_server}/health", timeout=10).status_code == 200
        assert requests.get(f"{live_server}/events/{event.id}", timeout=10).status_code == 200
        assert buyer.post(f"/events/{event.id}/holds", json={"seat_ids": [seat]}).status == 201
        crowd.wait_all_see_held(seat)
    wait_for(lambda: metric(realtime_server, "atomicseats_realtime_open_maps") == 0, 10, "the maps to close")


def test_start_up_objects_are_frozen_out_of_the_garbage_collector_and_no_connection_is(
    realtime_server, factory
) -> None:
    """A full collection stops every map: it must not walk the process's start-up objects. A frozen object is never
    collected, so nothing of a connection may be frozen (a closed map's cycles would stay for good)."""
    event = factory.event()
    frozen = metric(realtime_server, "atomicseats_realtime_gc_frozen_objects")
    assert frozen > 0
    with Crowd(realtime_server, event.id, 20):
        assert metric(realtime_server, "atomicseats_realtime_open_maps") == 20
        # Never more: a frozen object still goes when its last reference does, so it may be fewer.
        assert metric(realtime_server, "atomicseats_realtime_gc_frozen_objects") <= frozen
    assert "atomicseats_realtime_gc_full_pause_seconds_count" in requests.get(f"{realtime_server}/metrics").text


def test_full_collections_are_counted_with_their_pause_and_young_ones_are_not() -> None:
    full_collections = FullCollections()
    gc.callbacks.append(full_collections.hook)
    try:
        gc.collect(0)
        gc.collect(1)
        gc.collect()
    finally:
        gc.callbacks.remove(full_collections.hook)
    (family,) = full_collections.collect()
    samples = {(s.name, s.labels.get("le")): s.value for s in family.samples}
    name = "atomicseats_realtime_gc_full_pause_seconds"
    assert samples[(name + "_count", None)] == samples[(name + "_bucket", "+Inf")] == 1
    assert samples[(name + "_sum", None)] > 0


def test_a_burst_of_holds_reaches_each_map_coalesced_with_every_changed_seat(
    live_server, realtime_server, factory
) -> None:
    event = factory.event(sections=reserved_sections(rows=4, seats=10))
    buyers = [LiveApi(live_server, factory.token(factory.user())) for _ in range(30)]
    seats = factory.seat_ids(event.id)[: len(buyers)]
    with (
        joined_seat_map(realtime_server, event.id) as (_, _, updates_a),
        joined_seat_map(realtime_server, event.id) as (_, _, updates_b),
    ):
        start = threading.Barrier(len(buyers))

        def hold(buyer: LiveApi, seat: int) -> int:
            start.wait(timeout=30)
            return buyer.post(f"/events/{event.id}/holds", json={"seat_ids": [seat]}).status

        results: list[int] = []
        threads = [
            threading.Thread(target=lambda b=b, s=s: results.append(hold(b, s)))
            for b, s in zip(buyers, seats, strict=True)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert results == [201] * len(buyers)

        received_a: list[dict] = []

        def all_seen() -> bool:
            received_a.extend(drain(updates_a))
            return {s["id"] for m in received_a for s in m["seats"]} >= set(seats)

        try:
            wait_for(all_seen, 30, "every held seat on the map")
        except TimeoutError:
            pytest.fail(f"seats {sorted(seats)} held; the map got only: {received_a}")
        received_b: list[dict] = []
        wait_for(lambda: received_b.extend(drain(updates_b)) or len(received_b) >= len(received_a), 15, "map b")

    # Every change, each seat once per message, fewer messages than holds: the holds were merged per tick.
    assert all(len({s["id"] for s in m["seats"]}) == len(m["seats"]) for m in received_a)
    assert {s["id"]: s["status"] for m in received_a for s in m["seats"]} == {seat: "held" for seat in seats}
    assert len(received_a) < len(buyers)
    assert received_a[-1]["availability"]["held"] == len(buyers)
    # One message per tick per room: both maps got the same messages.
    assert received_b == received_a


def test_a_map_that_drops_its_connection_while_seats_change_resyncs_to_the_true_state(
    live_server, realtime_server, factory
) -> None:
    event = factory.event()
    seats = factory.seat_ids(event.id)
    buyer = LiveApi(live_server, factory.token(factory.user()))
    other = LiveApi(live_server, factory.token(factory.user()))
    first = buyer.post(f"/events/{event.id}/holds", json={"seat_ids": seats[:2]})
    assert first.status == 201
    full: list[dict] = []

    def open_map() -> socketio.Client:
        """As seatmap.js does: join on every connect, and take the full state that answers it."""
        seat_map = socketio.Client(reconnection=False)
        seat_map.on("seat_status", lambda data: full.append(data) if data.get("full") else None)
        seat_map.on("connect", lambda: seat_map.emit("join_event", {"event_id": event.id}))
        seat_map.connect(realtime_server, transports=["websocket"], wait_timeout=10)
        return seat_map

    seat_map = open_map()
    wait_for(lambda: full, 10, "the full map on connect")
    assert {s["id"]: s["status"] for s in full[0]["seats"]}[seats[0]] == "held"
    seat_map.eio.disconnect(abort=True)  # the connection drops, without a Socket.IO goodbye
    seat_map.wait()

    assert buyer.delete(f"/holds/{first.body['id']}").status == 204
    assert other.post(f"/events/{event.id}/holds", json={"seat_ids": seats[2:5]}).status == 201

    seat_map = open_map()
    try:
        wait_for(lambda: len(full) == 2, 10, "the full map on reconnect")
    finally:
        seat_map.disconnect()
    truth = {s["id"]: s["status"] for s in buyer.get(f"/events/{event.id}/seats").body["items"]}
    assert {s["id"]: s["status"] for s in full[1]["seats"]} == truth
    assert [truth[s] for s in seats[:5]] == ["available", "available", "held", "held", "held"]


def raw_socket(realtime_server: str) -> websocket.WebSocket:
    """A WebSocket speaking Engine.IO by hand, connected to the default namespace: what a hostile client has."""
    ws = websocket.create_connection(
        realtime_server.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket", timeout=10
    )
    assert ws.recv().startswith("0")  # Engine.IO open
    ws.send("40")
    assert ws.recv().startswith("40")  # Socket.IO connected
    return ws


def closed_by_server(ws: websocket.WebSocket) -> Callable[[], bool]:
    def check() -> bool:
        try:
            message = ws.recv()
        except (websocket.WebSocketConnectionClosedException, ConnectionError):
            return True
        return message in ("", None) or message.startswith("41")  # closed, or Socket.IO disconnect

    return check


@pytest.mark.parametrize(
    "garbage", ["42not json[[", "49", "42[1,2", '42["no_such_event",1]', '451-["join_event",{"_placeholder":true}]']
)
def test_a_client_sending_garbage_is_disconnected(realtime_server, garbage) -> None:
    ws = raw_socket(realtime_server)
    try:
        before = metric(realtime_server, 'atomicseats_realtime_dropped_clients_total{reason="bad_input"}')
        ws.send(garbage)
        wait_for(closed_by_server(ws), 10, "the server to close the connection")
        assert metric(realtime_server, 'atomicseats_realtime_dropped_clients_total{reason="bad_input"}') > before
    finally:
        ws.close()


def test_a_client_flooding_joins_is_disconnected(realtime_server, factory) -> None:
    event = factory.event()
    ws = raw_socket(realtime_server)
    try:
        for _ in range(20):
            try:
                ws.send("42" + json.dumps(["join_event", {"event_id": event.id}]))
            except (websocket.WebSocketConnectionClosedException, ConnectionError):
                break  # closed by the server before the flood was all sent: what the test waits for below
        wait_for(closed_by_server(ws), 15, "the server to close the flooding connection")
    finally:
        ws.close()


def test_a_token_not_signed_by_this_site_is_refused_and_a_draft_event_cannot_be_joined(
    realtime_server, factory
) -> None:
    client = socketio.Client(reconnection=False)
    errors: list = []
    client.on("connect_error", errors.append)
    with pytest.raises(socketio.exceptions.ConnectionError):
        client.connect(realtime_server, transports=["websocket"], auth={"token": realtime.make_token("not-ours", 1)})
    assert errors == [{"message": "bad token"}]
    draft = factory.event(publish=False)
    client.connect(realtime_server, transports=["websocket"], wait_timeout=10)
    try:
        assert client.call("join_event", {"event_id": draft.id}, timeout=10) == {"ok": False, "error": "no such event"}
    finally:
        client.disconnect()


@pytest.fixture
def small_queue_realtime(server_env: dict[str, str], run_dir: Path, app) -> Iterator[str]:
    """The shipped realtime process with a small REALTIME_CLIENT_QUEUE_LIMIT, so that the test fills it fast."""
    log_dir = run_dir / "realtime-small-queue"
    log_dir.mkdir(exist_ok=True)
    proc, url = start_realtime({**server_env, "REALTIME_CLIENT_QUEUE_LIMIT": "5"}, log_dir)
    yield url
    proc.stop()


def never_reading_socket(realtime_server: str, token: str | None = None) -> websocket.WebSocket:
    """A Socket.IO connection by hand (signed in with ``token``) with a small receive buffer, which the test then
    never reads: what a client that does not keep up looks like to the server."""
    slow = socket.socket()
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    slow.connect(("127.0.0.1", int(realtime_server.rsplit(":", 1)[1])))
    ws = websocket.WebSocket()
    ws.connect(realtime_server.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket", socket=slow)
    ws.recv()
    ws.send("40" + (json.dumps({"token": token}) if token else ""))
    assert ws.recv().startswith("40")
    return ws


def test_a_client_that_never_reads_is_disconnected_and_the_server_goes_on(
    small_queue_realtime, factory, settings
) -> None:
    """The server's queue for a client that does not read stops at REALTIME_CLIENT_QUEUE_LIMIT messages: past it
    the client is dropped, so it holds no more memory than that (plus the kernel's socket buffers)."""
    realtime_server = small_queue_realtime
    event = factory.event()
    ws = never_reading_socket(realtime_server)
    ws.send("42" + json.dumps(["join_event", {"event_id": event.id}]))
    publisher = redis.Redis.from_url(settings["REDIS_URL"])
    channel = realtime.seats_channel(settings["REDIS_PREFIX"])
    # Big changes (ids of seats that need not exist: the realtime process forwards what it is given), one per tick
    # or so, until the kernel's buffers are full and the server's own queue for this client reaches its limit.
    change = json.dumps(
        {"event_id": event.id, "seats": [{"id": i, "status": "held"} for i in range(5000)], "availability": None}
    )
    try:

        def slow_one_dropped() -> bool:
            publisher.publish(channel, change)
            return metric(realtime_server, 'atomicseats_realtime_dropped_clients_total{reason="slow"}') >= 1

        wait_for(slow_one_dropped, 40, "the client that never reads to be dropped", interval=0.2)
        wait_for(lambda: metric(realtime_server, "atomicseats_realtime_connections") == 0, 10, "the client gone")
        with joined_seat_map(realtime_server, event.id) as (_, _, updates):
            publisher.publish(channel, json.dumps({"event_id": event.id, "seats": [{"id": -1, "status": "booked"}]}))
            assert {"id": -1, "status": "booked"} in updates.get(timeout=10)["seats"]
    finally:
        ws.shutdown()
        publisher.close()


def test_a_user_who_never_reads_the_queue_pushes_is_dropped_and_the_others_in_line_still_get_them(
    small_queue_realtime, factory, settings
) -> None:
    """A message for everyone in a queue (``publish.to_each``) is written to each recipient's connection; one that
    does not read is dropped past REALTIME_CLIENT_QUEUE_LIMIT, while everyone else in the same messages gets all."""
    realtime_server = small_queue_realtime
    slow_user, reader_user = factory.user(), factory.user()
    ws = never_reading_socket(realtime_server, realtime.make_token(settings["SECRET_KEY"], slow_user.id))
    reader_token = realtime.make_token(settings["SECRET_KEY"], reader_user.id)
    publisher = redis.Redis.from_url(settings["REDIS_URL"])
    channel = realtime.users_channel(settings["REDIS_PREFIX"])
    sent = 0

    def push() -> None:
        nonlocal sent
        sent += 1
        # big (the realtime process forwards what it is given), so that the kernel's buffers fill fast
        data = {"event_id": 1, "head": sent, "padding": "x" * 200_000}
        publisher.publish(
            channel, json.dumps({"event": "queue_progress", "data": data, "to": [slow_user.id, reader_user.id]})
        )

    try:
        with user_page(realtime_server, reader_token, ("queue_progress",)) as (_, heard):

            def slow_one_dropped() -> bool:
                push()
                return metric(realtime_server, 'atomicseats_realtime_dropped_clients_total{reason="slow"}') >= 1

            wait_for(slow_one_dropped, 40, "the client that never reads to be dropped", interval=0.2)
            wait_for(lambda: metric(realtime_server, "atomicseats_realtime_connections") == 1, 10, "the slow one gone")
            push()
            wait_for(lambda: len(heard) == sent, 10, "every push at the client that reads")
            assert [data["head"] for _, data in heard] == list(range(1, sent + 1))
            assert metric(realtime_server, "atomicseats_realtime_user_messages_total") >= sent
    finally:
        ws.shutdown()
        publisher.close()


def test_a_process_at_realtime_max_connections_refuses_the_next_client(
    server_env: dict[str, str], run_dir: Path, app
) -> None:
    log_dir = run_dir / "realtime-max-2"
    log_dir.mkdir(exist_ok=True)
    proc, url = start_realtime({**server_env, "REALTIME_MAX_CONNECTIONS": "2"}, log_dir)
    clients = [socketio.Client(reconnection=False) for _ in range(3)]
    errors: list = []
    clients[2].on("connect_error", errors.append)
    try:
        for client in clients[:2]:
            client.connect(url, transports=["websocket"], wait_timeout=10)
        with pytest.raises(socketio.exceptions.ConnectionError):
            clients[2].connect(url, transports=["websocket"], wait_timeout=10)
        assert errors == [{"message": "server full"}]
        assert metric(url, 'atomicseats_realtime_refused_connections_total{reason="full"}') == 1
        assert metric(url, "atomicseats_realtime_max_connections") == 2
        clients[0].disconnect()
        wait_for(lambda: metric(url, "atomicseats_realtime_connections") == 1, 10, "a place to free up")
        clients[2].connect(url, transports=["websocket"], wait_timeout=10)
    finally:
        for client in clients:
            client.disconnect()
        proc.stop()


def test_under_another_websocket_implementation_engineio_sends_the_seat_changes_and_the_queue_pushes(
    server_env: dict[str, str], run_dir: Path, app, factory, settings
) -> None:
    """Seat changes and the users channel's messages are written as frames to uvicorn's websockets-sansio
    connections (the Procfile's ``--ws``); where the connection is something else, Engine.IO sends them, and the
    maps and waiting pages still get them."""
    log_dir = run_dir / "realtime-wsproto"
    log_dir.mkdir(exist_ok=True)
    port = free_port()
    command = procfile_command("realtime").replace("--ws websockets-sansio", "--ws wsproto")
    assert "--ws wsproto" in command
    run_env = {**server_env, "REALTIME_HOST": "127.0.0.1", "REALTIME_PORT": str(port)}
    proc = Process("realtime", ["bash", "-c", "exec " + command], run_env, log_dir).start()
    event = factory.event()
    seat = factory.seat_ids(event.id)[0]
    publisher = redis.Redis.from_url(settings["REDIS_URL"])
    try:
        url = wait_healthy(proc, port, "realtime server on wsproto")
        with joined_seat_map(url, event.id) as (_, full, updates):
            assert {s["id"] for s in full["seats"]} == set(factory.seat_ids(event.id))
            change = {"event_id": event.id, "seats": [{"id": seat, "status": "held"}], "availability": None}
            publisher.publish(realtime.seats_channel(settings["REDIS_PREFIX"]), json.dumps(change))
            assert {"id": seat, "status": "held"} in updates.get(timeout=10)["seats"]
        user = factory.user()
        with user_page(url, realtime.make_token(settings["SECRET_KEY"], user.id)) as (_, heard):
            users = realtime.users_channel(settings["REDIS_PREFIX"])
            draw = {"event": "queue_progress", "data": {"head": 0}, "users": [[user.id, {"place": 7}]]}
            publisher.publish(users, json.dumps(draw))
            publisher.publish(users, json.dumps({"event": "queue_progress", "data": {"head": 1}, "to": [user.id]}))
            wait_for(lambda: len(heard) == 2, 10, "the draw's push and the head push")
            assert heard == [("queue_progress", {"head": 0, "place": 7}), ("queue_progress", {"head": 1})]
    finally:
        publisher.close()
        proc.stop()
