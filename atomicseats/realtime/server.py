"""The realtime process: Socket.IO over WebSocket on one asyncio loop, so an open seat map costs no thread.

``uvicorn --factory atomicseats.realtime.server:create_app`` (Procfile ``realtime:``). It serves ``/socket.io/``
(WebSocket only), ``/health`` and ``/metrics``; pages and the API stay with the web process.

- Per-user messages and event status come through python-socketio's Redis message queue, on the channel every
  process already emits on (``AsyncRedisManager``).
- Seat changes come on a channel of their own (``realtime.seats_channel``). Each process keeps them per event and,
  once per tick, sends every room of its own one ``seat_status`` with every seat changed in the tick: a busy sale
  costs ticks x maps messages, not holds x maps.
- Messages for many users at once come on a third channel (``realtime.users_channel``), a few hundred people a
  message: each their own part (a queue's draw: each person's place), or one message for all of them (where the
  head of the line is). Each process sends a person's message only to that user's connections on it, as a
  WebSocket frame made once per message (once per person for their own part).
- A joining map is sent the full state straight from this process's snapshot of the event, read from PostgreSQL
  at most once per ``SNAPSHOT_SECONDS`` per event and kept current with the changes since.
- A client that sends what is not Socket.IO, joins too often, or does not read is disconnected.

The decision and its measurements: docs/decisions/0001-realtime-process.md.
"""

from __future__ import annotations

import asyncio
import bisect
import gc
import hmac
import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import engineio.packet
import redis.asyncio
import socketio
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import HistogramMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from socketio import packet
from sqlalchemy import Engine, create_engine, text
from websockets.frames import Frame, Opcode
from websockets.protocol import Protocol, State

from atomicseats import logs, realtime
from atomicseats.booking import availability
from atomicseats.config import Config, config_from_env
from atomicseats.realtime.rooms import EventState, JoinBudget

log = logging.getLogger(__name__)

# A joining map reuses a snapshot this young (kept current by the changes since) instead of reading PostgreSQL.
SNAPSHOT_SECONDS = 2.0
# An event nobody here has watched for this long is forgotten (joins in flight keep it meanwhile).
IDLE_SECONDS = 10.0
# Joins a connection may make at once, and per second after that: a map joins on connect and reconnect.
JOIN_BURST = 5
JOINS_PER_SECOND = 0.5
# Largest WebSocket message a client may send (uvicorn's --ws-max-size in the Procfile says the same):
# a join is a few dozen bytes, a connect with its token a few hundred.
MAX_MESSAGE_BYTES = 16_384
TICK_MS_RANGE = (100, 250)

_EVENT_STATUS = text("SELECT status FROM events WHERE id = :e")


@dataclass(frozen=True)
class Settings:
    secret_key: str
    redis_url: str
    prefix: str
    message_queue: str
    database_url: str
    allowed_origins: str | list[str]
    tick_seconds: float
    max_connections: int
    client_queue_limit: int
    token_max_age: int
    db_pool_size: int
    metrics_token: str

    @classmethod
    def from_config(cls, config: type[Config]) -> Settings:
        tick_ms = config.REALTIME_TICK_MS
        if not TICK_MS_RANGE[0] <= tick_ms <= TICK_MS_RANGE[1]:
            raise ValueError(f"REALTIME_TICK_MS must be between {TICK_MS_RANGE[0]} and {TICK_MS_RANGE[1]}")
        origins = config.REALTIME_ALLOWED_ORIGINS.strip()
        return cls(
            secret_key=config.SECRET_KEY,
            redis_url=config.REDIS_URL,
            prefix=config.REDIS_PREFIX,
            message_queue=config.SOCKETIO_MESSAGE_QUEUE or config.REDIS_URL,
            database_url=config.SQLALCHEMY_DATABASE_URI,
            allowed_origins="*" if origins == "*" else [o.strip() for o in origins.split(",") if o.strip()],
            tick_seconds=tick_ms / 1000,
            max_connections=config.REALTIME_MAX_CONNECTIONS,
            client_queue_limit=config.REALTIME_CLIENT_QUEUE_LIMIT,
            token_max_age=config.REALTIME_TOKEN_MAX_AGE,
            db_pool_size=config.REALTIME_DB_POOL_SIZE,
            metrics_token=config.METRICS_TOKEN,
        )


@dataclass(frozen=True)
class Encoded:
    """One message made once for all its recipients: as a WebSocket frame, and as an Engine.IO packet.

    Engine.IO keeps a packet's encoded text with it, and each connection's writer holds on to the last packet it
    sent: a packet made per recipient would leave each joined map holding its own copy of the full map.
    """

    frame: bytes
    packet: engineio.packet.Packet

    @classmethod
    def of(cls, socketio_text: str) -> Encoded:
        shared = engineio.packet.Packet(engineio.packet.MESSAGE, data=socketio_text)
        text = shared.encode()
        return cls(Frame(Opcode.TEXT, text.encode()).serialize(mask=False, extensions=[]), shared)


class FullCollections:
    """How long each full (generation 2) garbage collection of this process took: the whole process, event loop
    included, waits for one. Timed by a ``gc.callbacks`` hook while :meth:`Hub.start` to :meth:`Hub.stop`.

    Kept in plain integers and exported by :meth:`collect`: a collection can start on any thread at any
    allocation, a scrape's included, while a prometheus_client metric's lock is held, and observing one from the
    hook would then wait on that lock forever. The collection made at start-up, before any connection, is not
    counted.
    """

    BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)

    def __init__(self) -> None:
        self.counts = [0] * (len(self.BUCKETS) + 1)
        self.seconds = 0.0
        self._started: float | None = None

    def hook(self, phase: str, info: dict[str, int]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            self._started = time.perf_counter()
        elif self._started is not None:
            took, self._started = time.perf_counter() - self._started, None
            self.counts[bisect.bisect_left(self.BUCKETS, took)] += 1
            self.seconds += took

    def collect(self) -> list[HistogramMetricFamily]:
        counts, cumulative, buckets = list(self.counts), 0, []
        for bound, count in zip((*map(str, self.BUCKETS), "+Inf"), counts, strict=True):
            cumulative += count
            buckets.append((bound, cumulative))
        return [
            HistogramMetricFamily(
                "atomicseats_realtime_gc_full_pause_seconds",
                "Full garbage collections of this process, and how long each stopped it.",
                buckets=buckets,
                sum_value=self.seconds,
            )
        ]


class Metrics:
    """This process's series; each realtime process is its own scrape target, as each web process is."""

    def __init__(self, hub: Hub) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.full_collections = FullCollections()
        r.register(self.full_collections)
        Gauge(
            "atomicseats_realtime_gc_frozen_objects",
            "Objects this process froze out of the garbage collector's reach at start-up (gc.freeze).",
            registry=r,
        ).set_function(gc.get_freeze_count)
        Gauge(
            "atomicseats_realtime_connections", "Socket.IO connections open on this process.", registry=r
        ).set_function(lambda: len(hub.budgets))
        Gauge(
            "atomicseats_realtime_open_maps", "Connections in an event's room (open seat maps).", registry=r
        ).set_function(lambda: len(hub.joined))
        Gauge("atomicseats_realtime_max_connections", "REALTIME_MAX_CONNECTIONS of this process.", registry=r).set(
            hub.settings.max_connections
        )
        self.tick_messages = Histogram(
            "atomicseats_realtime_tick_messages",
            "seat_status messages sent by one tick, over all rooms.",
            buckets=(0, 1, 10, 100, 1000, 5000, 10000, 50000),
            registry=r,
        )
        self.messages = Counter(
            "atomicseats_realtime_messages", "seat_status messages sent, by kind.", ["kind"], registry=r
        )
        self.dropped = Counter(
            "atomicseats_realtime_dropped_clients",
            "Clients disconnected by this process, by reason (slow, join_flood, bad_input).",
            ["reason"],
            registry=r,
        )
        self.user_messages = Counter(
            "atomicseats_realtime_user_messages",
            "Per-user messages sent from batches published for many users (a queue's draw and its progress).",
            registry=r,
        )
        self.refused = Counter(
            "atomicseats_realtime_refused_connections",
            "Connections refused, by reason (full, bad_token).",
            ["reason"],
            registry=r,
        )


class _Server(socketio.AsyncServer):
    """An AsyncServer that disconnects a client whose message is not a Socket.IO packet it accepts.

    python-socketio logs an undecodable message and keeps the connection; a client sending garbage should lose
    it. Binary packets are refused too: no handler takes one, and their attachments would be buffered.
    """

    hub: Hub

    async def _handle_eio_message(self, eio_sid: str, data: Any) -> None:
        if not isinstance(data, str) or data[:1] in ("5", "6"):  # binary message, BINARY_EVENT, BINARY_ACK
            await self.hub.drop_eio(eio_sid, "bad_input")
            return
        try:
            await super()._handle_eio_message(eio_sid, data)
        except ValueError:  # not a packet, or not JSON
            await self.hub.drop_eio(eio_sid, "bad_input")

    async def _handle_eio_connect(self, eio_sid: str, environ: dict) -> Any:
        wire = Wire.of(environ.get("asgi.send"))
        if wire is not None:
            self.hub.wires[eio_sid] = wire
        return await super()._handle_eio_connect(eio_sid, environ)

    async def _handle_eio_disconnect(self, eio_sid: str, reason: Any) -> None:
        self.hub.wires.pop(eio_sid, None)
        await super()._handle_eio_disconnect(eio_sid, reason)


class Wire:
    """A client's WebSocket connection as uvicorn's ``websockets-sansio`` protocol holds it (Procfile ``--ws``).

    ``seat_status`` messages are written to it as WebSocket frames made once per message, not per client: through
    Engine.IO each message to each map costs a queue, a writer task waking and the frame made again, which at
    thousands of maps made one tick longer than a tick. All of a map's ``seat_status`` messages (its full state
    and every change) go this way, so they stay in order, and so do the messages from the users channel (a
    queue's draw and its progress, among themselves); acknowledgements and the other per-user messages still go
    through Engine.IO. Under another ``--ws`` implementation there is no wire, and Engine.IO sends everything.
    """

    def __init__(self, protocol: Any):
        self.protocol = protocol
        self.unread = 0  # frames written since its send buffer was last empty

    @classmethod
    def of(cls, asgi_send: Any) -> Wire | None:
        protocol = getattr(asgi_send, "__self__", None)
        if isinstance(getattr(protocol, "conn", None), Protocol) and all(
            hasattr(protocol, name) for name in ("transport", "close_sent")
        ):
            return cls(protocol)
        return None

    def open(self) -> bool:
        protocol = self.protocol
        return not protocol.close_sent and not protocol.transport.is_closing() and protocol.conn.state is State.OPEN

    def write(self, frame: bytes) -> int:
        """Write one frame; returns how many frames it has been written since it last had nothing unsent."""
        transport = self.protocol.transport
        self.unread = 0 if transport.get_write_buffer_size() == 0 else self.unread + 1
        transport.write(frame)
        return self.unread

    def abort(self) -> None:
        self.protocol.transport.abort()  # what it has not read is dropped with it


class Hub:
    """The process's state: its Socket.IO server, the events its maps watch, and the tick that sends changes."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine: Engine = create_engine(
            settings.database_url,
            pool_size=settings.db_pool_size,
            max_overflow=0,
            pool_pre_ping=True,
            connect_args={"connect_timeout": 5},
        )
        self.reader = ThreadPoolExecutor(settings.db_pool_size, thread_name_prefix="snapshot")
        self.sio = _Server(
            async_mode="asgi",
            client_manager=socketio.AsyncRedisManager(
                settings.message_queue, channel=realtime.queue_channel(settings.prefix)
            ),
            transports=["websocket"],
            cors_allowed_origins=settings.allowed_origins,
            max_http_buffer_size=MAX_MESSAGE_BYTES,
        )
        self.sio.hub = self
        self.events: dict[int, EventState] = {}
        self.loads: dict[int, asyncio.Future[EventState | None]] = {}
        self.joined: dict[str, int] = {}  # sid -> the event whose room it is in
        self.budgets: dict[str, JoinBudget] = {}  # sid -> its join budget; one per open connection
        self.wires: dict[str, Wire] = {}  # eio_sid -> its WebSocket, for seat_status frames
        self.metrics = Metrics(self)
        self._tasks: list[asyncio.Task] = []
        self._register()

    # -- Socket.IO handlers -------------------------------------------------------------------------------

    def _register(self) -> None:
        sio = self.sio
        sio.on("connect", self.on_connect)
        sio.on("disconnect", self.on_disconnect)
        sio.on("join_event", self.on_join_event)
        sio.on("leave_event", self.on_leave_event)
        sio.on("*", self.on_unknown)

    async def on_connect(self, sid: str, environ: dict, auth: Any = None) -> None:
        """Admit the client (within the process's limit) and put a signed-in browser in its own room."""
        if len(self.budgets) >= self.settings.max_connections:
            self.metrics.refused.labels("full").inc()
            raise socketio.exceptions.ConnectionRefusedError("server full")
        token = auth.get("token") if isinstance(auth, dict) else None
        user_id = None
        if token is not None:
            try:
                if not isinstance(token, str):
                    raise realtime.BadToken("not a string")
                user_id = realtime.read_token(self.settings.secret_key, token, self.settings.token_max_age)
            except realtime.BadToken:
                self.metrics.refused.labels("bad_token").inc()
                raise socketio.exceptions.ConnectionRefusedError("bad token") from None
        self.budgets[sid] = JoinBudget(JOIN_BURST, JOINS_PER_SECOND)
        if user_id is not None:
            await self.sio.enter_room(sid, realtime.user_room(user_id))

    async def on_disconnect(self, sid: str, reason: Any = None) -> None:
        self.budgets.pop(sid, None)
        self.joined.pop(sid, None)

    async def on_join_event(self, sid: str, data: Any) -> dict[str, Any] | None:
        """Join the event's room and get its full state, straight from this process (not through the queue)."""
        budget = self.budgets.get(sid)
        if budget is None or not budget.take(time.monotonic()):
            await self.drop(sid, "join_flood")
            return None
        event_id = data.get("event_id") if isinstance(data, dict) else None
        if not isinstance(event_id, int) or isinstance(event_id, bool):
            await self.drop(sid, "bad_input")
            return None
        try:
            state = await self.snapshot(event_id)
        except Exception:
            log.exception("could not read event %s for a joining map", event_id)
            return {"ok": False, "error": "try again"}
        if state is None:
            return {"ok": False, "error": "no such event"}
        if sid not in self.budgets:  # it disconnected while the snapshot was read
            return None
        state = self.events.setdefault(event_id, state)
        previous = self.joined.get(sid)
        if previous is not None and previous != event_id:  # one map per connection
            await self.sio.leave_room(sid, realtime.event_room(previous))
        await self.sio.enter_room(sid, realtime.event_room(event_id))
        self.joined[sid] = event_id
        # Built after entering the room, with nothing awaited in between: a change applied before this is in the
        # full state, a change after it reaches the map with the next tick.
        self.metrics.messages.labels("full").inc(await self._send(sid, self._encoded_full(state)))
        return {"ok": True}

    async def on_leave_event(self, sid: str, data: Any) -> dict[str, bool]:
        event_id = data.get("event_id") if isinstance(data, dict) else None
        if self.joined.get(sid) != event_id:
            return {"ok": False}
        await self.sio.leave_room(sid, realtime.event_room(event_id))
        del self.joined[sid]
        return {"ok": True}

    async def on_unknown(self, event: str, sid: str, *args: Any) -> None:
        await self.drop(sid, "bad_input")

    # -- snapshots ----------------------------------------------------------------------------------------

    async def snapshot(self, event_id: int) -> EventState | None:
        """The event's state, read from PostgreSQL unless a young enough one is held; None for no such event.

        Joins that arrive while it is being read wait for that one read (a reconnect storm reads once).
        """
        state = self.events.get(event_id)
        if state is not None and state.seats is not None and time.monotonic() - state.loaded_at < SNAPSHOT_SECONDS:
            return state
        pending = self.loads.get(event_id)
        if pending is None:
            pending = asyncio.ensure_future(self._load(event_id))
            self.loads[event_id] = pending
            pending.add_done_callback(lambda _: self.loads.pop(event_id, None))
        return await asyncio.shield(pending)

    async def _load(self, event_id: int) -> EventState | None:
        state = self.events.setdefault(event_id, EventState(event_id))
        state.loading = True
        try:
            read = await asyncio.get_running_loop().run_in_executor(self.reader, self._read, event_id)
        except BaseException:
            state.loading = False
            state.backlog = []
            raise
        if read is None:
            state.loading = False
            if state.seats is None and not self._members(event_id):
                self.events.pop(event_id, None)
            return None
        state.loaded(read, at=time.monotonic())
        return state

    def _read(self, event_id: int) -> list[dict[str, Any]] | None:
        """Runs on a reader thread: the event's seat statuses, or None if it is missing or a draft."""
        with self.engine.connect() as connection:
            status = connection.execute(_EVENT_STATUS, {"e": event_id}).scalar()
            if status is None or status == "draft":
                return None
            return availability.statuses(connection, event_id, datetime.now(UTC))

    def _encoded_full(self, state: EventState) -> Encoded:
        """The full map, encoded once for every map that joins until it changes."""
        if state.encoded_full is None:
            state.encoded_full = self._encode(state.full())
        return state.encoded_full

    def _encode(self, payload: dict[str, Any], event: str = "seat_status") -> Encoded:
        text = self.sio.packet_class(packet.EVENT, namespace="/", data=[event, payload]).encode()
        return Encoded.of(text)

    # -- changes and ticks --------------------------------------------------------------------------------

    def on_change(self, raw: bytes) -> None:
        """A ``seat_status`` published by any process; kept for the next tick if a map here watches the event."""
        try:
            change = json.loads(raw)
            state = self.events.get(change["event_id"])
            if state is not None:
                state.change(
                    [{"id": int(s["id"]), "status": str(s["status"])} for s in change["seats"]],
                    change.get("availability"),
                )
        except (ValueError, KeyError, TypeError):
            log.warning("skipped a malformed seat change: %r", raw[:200])

    async def tick(self) -> int:
        """Send each room its changes since the last tick, as one message; returns how many were sent."""
        sent, now = 0, time.monotonic()
        for event_id, state in list(self.events.items()):
            members = self._members(event_id)
            if members or state.loading:
                state.idle_since = None
            elif state.idle_since is None:
                state.idle_since = now
            elif now - state.idle_since > IDLE_SECONDS:
                del self.events[event_id]  # nobody here watches it any more
                continue
            payload = state.take_changes()
            if payload is None or not members:
                continue
            encoded = self._encode(payload)
            for sid, eio_sid in members:
                sent += await self._send(sid, encoded, eio_sid)
        self.metrics.tick_messages.observe(sent)
        self.metrics.messages.labels("change").inc(sent)
        return sent

    async def _send(self, sid: str, encoded: Encoded, eio_sid: str | None = None) -> int:
        """Send one message to one client, unless it shows it is not reading (then drop it); 1 if sent."""
        eio_sid = eio_sid or self.sio.manager.eio_sid_from_sid(sid, "/")
        return await self._send_eio(eio_sid, encoded) if eio_sid else 0

    async def _send_eio(self, eio_sid: str, encoded: Encoded) -> int:
        """:meth:`_send` to a client known by its Engine.IO id: as a frame on its wire, or through Engine.IO."""
        if eio_sid not in self.sio.eio.sockets:
            return 0
        wire = self.wires.get(eio_sid)
        if wire is not None:
            if not wire.open():
                return 0
            if wire.write(encoded.frame) >= self.settings.client_queue_limit:
                await self.drop_eio(eio_sid, "slow")
                return 0
            return 1
        return await self._send_packet(eio_sid, encoded.packet)

    async def _send_packet(self, eio_sid: str, eio_packet: engineio.packet.Packet) -> int:
        """Queue one packet on a client's Engine.IO socket, unless it is not reading (then drop it); 1 if sent."""
        socket = self.sio.eio.sockets.get(eio_sid)
        if socket is None:
            return 0
        if socket.queue.qsize() >= self.settings.client_queue_limit:
            await self.drop_eio(eio_sid, "slow")
            return 0
        await self.sio.eio.send_packet(eio_sid, eio_packet)
        return 1

    async def on_users(self, raw: bytes) -> int:
        """A batch from ``publish.to_users`` (each user's part, with the common part) or ``publish.to_each`` (one
        message for all of them), to each user's sockets here.

        Only the user's own room gets it: the room is entered on connect with a token signed for that user. A user
        with no connection on this process costs one dictionary lookup. A message is encoded once for all its
        recipients here (a user's own part once for that user's tabs), and written to each as the same frame.
        """
        rooms = self.sio.manager.rooms.get("/", {})
        sent = 0
        try:
            batch = json.loads(raw)
            event, common = str(batch["event"]), dict(batch["data"])
            shared = self._encode(common, event) if "to" in batch else None
            parts = [(user_id, None) for user_id in batch["to"]] if shared else batch["users"]
            for user_id, own in parts:
                members = rooms.get(realtime.user_room(int(user_id)))
                if not members:
                    continue
                encoded = shared or self._encode({**common, **own}, event)
                for eio_sid in list(members.values()):
                    sent += await self._send_eio(eio_sid, encoded)
        except (ValueError, KeyError, TypeError):
            log.warning("skipped a malformed batch of user messages: %r", raw[:200])
        self.metrics.user_messages.inc(sent)
        return sent

    def _members(self, event_id: int) -> list[tuple[str, str]]:
        return list(self.sio.manager.get_participants("/", realtime.event_room(event_id)))

    async def drop(self, sid: str, reason: str) -> None:
        await self.drop_eio(self.sio.manager.eio_sid_from_sid(sid, "/"), reason)

    async def drop_eio(self, eio_sid: str | None, reason: str) -> None:
        """Disconnect a client and close its WebSocket now, without waiting for it.

        Engine.IO's own disconnect sends a close packet and waits until the client has read everything queued for
        it: for a client that does not read, forever, and the tick that called it would stop for every map.
        Aborting skips both; ending the writer's queue makes Engine.IO close the socket.
        """
        socket = self.sio.eio.sockets.pop(eio_sid, None) if eio_sid else None
        if socket is None:
            return
        wire = self.wires.pop(eio_sid, None)
        if wire is not None:
            wire.abort()
        self.metrics.dropped.labels(reason).inc()
        log.info("disconnecting %s: %s", eio_sid, reason)
        await socket.close(wait=False, abort=True, reason=self.sio.eio.reason.SERVER_DISCONNECT)
        socket.queue.put_nowait(None)

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.tick_seconds)
            try:
                await self.tick()
            except Exception:
                log.exception("a tick failed")

    async def _listen_changes(self) -> None:
        """Subscribe to the seat changes (and the batches of user messages) for as long as the process runs,
        resubscribing after a Redis outage.

        Changes published while unsubscribed are lost: every snapshot is then forgotten, and the rooms of this
        process are sent their full state again. Lost user messages are not sent again: the pages they were for
        ask for their state when they notice (the waiting page polls).
        """
        channel = realtime.seats_channel(self.settings.prefix)
        users = realtime.users_channel(self.settings.prefix).encode()
        retry, first = 1.0, True
        while True:
            client = redis.asyncio.Redis.from_url(self.settings.redis_url, socket_connect_timeout=2)
            try:
                async with client.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(channel, users)
                    retry = 1.0
                    if not first:
                        await self._resync_all()
                    first = False
                    async for message in pubsub.listen():
                        if message["channel"] == users:
                            await self.on_users(message["data"])
                        else:
                            self.on_change(message["data"])
            except (redis.RedisError, OSError) as exc:
                log.warning("seat changes unavailable (%s); resubscribing in %.0f s", exc, retry)
                await asyncio.sleep(retry)
                retry = min(retry * 2, 10.0)
            finally:
                await client.aclose()

    async def _resync_all(self) -> None:
        for event_id, state in list(self.events.items()):
            state.forget()
            try:
                fresh = await self.snapshot(event_id)
            except Exception:
                log.exception("could not resync event %s", event_id)
                continue
            if fresh is not None:
                encoded = self._encoded_full(fresh)
                sent = 0
                for sid, eio_sid in self._members(event_id):
                    sent += await self._send(sid, encoded, eio_sid)
                self.metrics.messages.labels("full").inc(sent)

    async def start(self) -> None:
        self._tasks = [asyncio.ensure_future(self._tick_forever()), asyncio.ensure_future(self._listen_changes())]
        freeze_start_up()
        gc.callbacks.append(self.metrics.full_collections.hook)

    async def stop(self) -> None:
        if self.metrics.full_collections.hook in gc.callbacks:
            gc.callbacks.remove(self.metrics.full_collections.hook)
        for task in self._tasks:
            task.cancel()
        self.reader.shutdown(wait=False, cancel_futures=True)
        self.engine.dispose()


def freeze_start_up() -> None:
    """Take what the process built before its first connection out of every later full garbage collection.

    The modules, the app and the hub live as long as the process, yet each full collection walks them all while
    the event loop waits, and every map's updates and joins with it; the collections that opening maps set off
    free next to nothing. Runs at the ASGI startup, before uvicorn accepts a connection: nothing of a connection
    is frozen. It must not be: a closed connection leaves cycles that only a full collection frees, and a frozen
    object is never collected. Garbage is collected first so that none of it is frozen for good. CPython's
    thresholds stay: fewer full collections (a higher third threshold) left the closed connections' garbage
    piling up for one much longer pause (docs/benchmarks.md).
    """
    gc.collect()
    gc.freeze()


def _plain_app(hub: Hub):
    """``/health`` and ``/metrics`` (with ``METRICS_TOKEN`` as a bearer token when set); 404 for the rest."""
    expected = f"Bearer {hub.settings.metrics_token}".encode() if hub.settings.metrics_token else None

    async def app(scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        status, body, content_type = 404, b"not found\n", b"text/plain"
        if scope["path"] == "/health":
            status, body = 200, b"ok\n"
        elif scope["path"] == "/metrics":
            given = dict(scope["headers"]).get(b"authorization", b"")
            if expected is not None and not hmac.compare_digest(given, expected):
                status, body = 401, b"unauthorized\n"
            else:
                status, body, content_type = 200, generate_latest(hub.metrics.registry), CONTENT_TYPE_LATEST.encode()
        await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", content_type)]})
        await send({"type": "http.response.body", "body": body})

    return app


def create_app() -> socketio.ASGIApp:
    """The ASGI app uvicorn serves (``--factory``), configured from the environment like every other process."""
    logs.configure()
    hub = Hub(Settings.from_config(config_from_env()))
    return socketio.ASGIApp(hub.sio, other_asgi_app=_plain_app(hub), on_startup=hub.start, on_shutdown=hub.stop)
