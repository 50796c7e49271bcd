"""Seat maps as tests open them: Socket.IO clients of the realtime process, over WebSocket as browsers connect."""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Coroutine, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from typing import Any

import socketio

from tests.services import wait_for


@contextmanager
def joined_seat_map(
    url: str, event_id: int, token: str | None = None
) -> Iterator[tuple[socketio.Client, dict, queue.Queue[dict]]]:
    """A seat map connected to ``url`` and in the event's room: the client, its full state, its later updates."""
    updates: queue.Queue[dict] = queue.Queue()
    seat_map = socketio.Client(reconnection=False)
    seat_map.on("seat_status", updates.put)
    seat_map.connect(url, transports=["websocket"], auth={"token": token} if token else None, wait_timeout=10)
    try:
        assert seat_map.call("join_event", {"event_id": event_id}, timeout=10) == {"ok": True}
        full = updates.get(timeout=10)
        assert full["full"] is True
        yield seat_map, full, updates
    finally:
        seat_map.disconnect()


@contextmanager
def user_page(
    url: str, token: str | None, events: tuple[str, ...] = ("queue_progress", "queue_admitted")
) -> Iterator[tuple[socketio.Client, list[tuple[str, dict]]]]:
    """A page's connection to ``url`` (signed in with ``token``, or anonymous): every message of ``events`` it
    hears, in order, as ``(event, data)``."""
    heard: list[tuple[str, dict]] = []
    page = socketio.Client(reconnection=False)
    for name in events:
        page.on(name, lambda data, name=name: heard.append((name, data)))
    page.connect(url, transports=["websocket"], auth={"token": token} if token else None, wait_timeout=10)
    try:
        yield page, heard
    finally:
        page.disconnect()


def drain(updates: queue.Queue[dict]) -> list[dict]:
    out = []
    while not updates.empty():
        out.append(updates.get_nowait())
    return out


class Crowd:
    """Hundreds of seat maps on one asyncio loop in a thread of their own, as python-socketio's AsyncClients.

    Each map keeps every ``seat_status`` it receives; the test thread reads them through :meth:`call`. With
    ``reconnect``, a map that loses its connection comes back with the client's jittered backoff and joins again
    on every connect, as ``static/js/seatmap.js`` does.
    """

    def __init__(self, url: str, event_id: int, size: int, concurrent_connects: int = 50, reconnect: bool = False):
        self.url, self.event_id, self.size = url, event_id, size
        self.concurrent_connects = concurrent_connects
        self.reconnect = reconnect
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.clients: list[socketio.AsyncClient] = []
        self.received: list[list[dict]] = []

    def __enter__(self) -> Crowd:
        self.thread.start()
        self.call(self._open(), timeout=120)
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.call(self._close(), timeout=60)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=10)
            if not self.loop.is_running():
                self.loop.close()  # an unclosed loop warns when collected, and the suite turns warnings into errors

    def call(self, coro: Coroutine, timeout: float) -> Any:
        future: Future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result(timeout)

    async def _close(self) -> None:
        await asyncio.gather(*(c.disconnect() for c in self.clients if c is not None))

    async def _open(self) -> None:
        gate = asyncio.Semaphore(self.concurrent_connects)

        async def one(index: int) -> None:
            client = socketio.AsyncClient(
                reconnection=self.reconnect, reconnection_delay=0.5, reconnection_delay_max=4, randomization_factor=0.5
            )
            full = asyncio.Event()

            def on_status(data: dict) -> None:
                self.received[index].append(data)
                if data.get("full"):
                    full.set()

            client.on("seat_status", on_status)
            if self.reconnect:

                async def rejoin() -> None:
                    await client.emit("join_event", {"event_id": self.event_id})

                client.on("connect", rejoin)
            async with gate:
                await client.connect(self.url, transports=["websocket"], wait_timeout=30)
                if self.reconnect:
                    await asyncio.wait_for(full.wait(), 30)
                else:
                    ack = await client.call("join_event", {"event_id": self.event_id}, timeout=30)
                    assert ack == {"ok": True}, ack
            self.clients[index] = client

        self.received = [[] for _ in range(self.size)]
        self.clients = [None] * self.size  # type: ignore[list-item]
        await asyncio.gather(*(one(i) for i in range(self.size)))

    def connected(self) -> int:
        return sum(client is not None and client.connected for client in self.clients)

    def fulls(self) -> list[int]:
        """How many full states each map has been sent: one per (re)join."""
        return [sum(1 for m in list(messages) if m.get("full")) for messages in self.received]

    def views(self) -> list[dict[int, str]]:
        """What each map shows: its last full state with every change received since applied."""
        shown = []
        for messages in self.received:
            view: dict[int, str] = {}
            for message in list(messages):
                if message.get("full"):
                    view = {}
                view.update((seat["id"], seat["status"]) for seat in message["seats"])
            shown.append(view)
        return shown

    def seen(self, seat_id: int) -> int:
        """How many maps have been told the seat's latest status is ``held``."""

        def latest(messages: list[dict]) -> str | None:
            status = None
            for message in messages:
                for seat in message["seats"]:
                    if seat["id"] == seat_id:
                        status = seat["status"]
            return status

        return sum(latest(list(messages)) == "held" for messages in self.received)

    def wait_all_see_held(self, seat_id: int, timeout: float = 30) -> None:
        wait_for(lambda: self.seen(seat_id) == self.size, timeout, f"all {self.size} maps to show seat {seat_id} held")
