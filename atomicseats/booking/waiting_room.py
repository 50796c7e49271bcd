"""The waiting room: a fair queue in front of an on-sale, and the admission tokens that let people through.

Per event, one hash-tagged Redis key family (docs/decisions/0050-waiting-room.md):
``pre``   sorted set of people who arrived in the pre-queue window, scored by a secret random lottery number
          drawn at arrival; when the room opens they get places 1..n in lottery order (arrival order is lost);
``q``     sorted set of people in line, scored by their place number (later arrivals: the next number, FIFO);
``meta``  hash: ``opened``, ``seq`` (last place given), ``head`` (last place let out of line), ``credits`` and
          ``last`` (the admission budget), ``sold_out``;
``adm``   hash user -> ``place:expires_ms:state`` with state ``a`` admitted, ``u`` used, ``x`` lapsed;
``admx``  sorted set of admitted, unused people by deadline (the lapse sweep);
``ip``    hash ip -> people who joined from it (the per-IP cap).

PostgreSQL's ``queue_admissions`` row is written before anyone is admitted and is the truth about admissions:
a wiped Redis loses places in line (people rejoin), never lets anyone in twice. Tokens are HMACs of
``event.user.place.expires`` under ``SECRET_KEY``, checked against ``adm`` (or the row when Redis lost it).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import math
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text

from atomicseats.booking import availability, gate, publish
from atomicseats.booking.tx import transaction
from atomicseats.exceptions import Conflict, DomainError, Forbidden, NotFound
from atomicseats.extensions import booking_ext, db, redis_ext
from atomicseats.models.base import MAX_ID, utcnow

log = logging.getLogger(__name__)

LOTTERY_BITS = 52  # exact in a Redis sorted-set score (a double)
FORGET_AFTER_END = timedelta(days=1)


class AdmissionRefused(Forbidden):
    """A hold on a queued event without a usable admission token (403, with a code saying which problem)."""


class QueueFull(DomainError):
    """The per-IP cap (429)."""

    code = "queue_ip_limit"


@dataclass(frozen=True)
class Room:
    event_id: int
    opens_at: datetime
    admit_per_minute: int
    ends_at: datetime


@dataclass(frozen=True)
class QueueState:
    """One person's view of the queue: what the API answers and the waiting page shows."""

    event_id: int
    ticket: str
    status: str  # waiting | admitted | expired | sold_out
    position: int | None  # people ahead plus one; None in the pre-queue (drawn at opening)
    place: int | None  # the absolute place number; a page computes its position from pushed ``head`` values
    eta_seconds: int | None
    opens_at: datetime
    admission_token: str | None = None
    admission_expires_at: datetime | None = None
    admission_used: bool = False

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "ticket": self.ticket,
            "event_id": self.event_id,
            "status": self.status,
            "position": self.position,
            "place": self.place,
            "eta_seconds": self.eta_seconds,
            "opens_at": self.opens_at.isoformat(),
        }
        if self.admission_token is not None:
            body["admission_token"] = self.admission_token
            body["admission_expires_at"] = self.admission_expires_at.isoformat() if self.admission_expires_at else None
            body["admission_used"] = self.admission_used
        return body


@dataclass(frozen=True)
class Admission:
    """A checked admission token, to mark used once the hold it allowed has been made."""

    event_id: int
    user_id: int
    place: int


# Opening: the pre-queue's members take places 1..n in lottery order, once. Shared by join and the tick, so that
# whoever reaches the room first after opens_at draws, and nobody who came later can get ahead of the draw.
_OPEN = """
local function open_room(now, opens)
  if redis.call('HGET', KEYS[3], 'opened') == '1' or now < opens then return end
  local seq = tonumber(redis.call('HGET', KEYS[3], 'seq') or '0')
  local members = redis.call('ZRANGE', KEYS[1], 0, -1)
  for i, m in ipairs(members) do redis.call('ZADD', KEYS[2], seq + i, m) end
  redis.call('HSET', KEYS[3], 'seq', seq + #members, 'opened', '1', 'last', now, 'drawn', '1')
  redis.call('DEL', KEYS[1])
end
"""

# KEYS pre q meta adm ip; ARGV user now opens lottery ip ip_cap forget_at -> {kind, value, head, sold_out}
_JOIN = (
    _OPEN
    + """
local user, now, opens = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
open_room(now, opens)
local function answer(kind, value)
  for i = 1, #KEYS do redis.call('PEXPIREAT', KEYS[i], ARGV[7]) end
  return {kind, value or '', redis.call('HGET', KEYS[3], 'head') or '0', redis.call('HGET', KEYS[3], 'sold_out') or '0'}
end
local a = redis.call('HGET', KEYS[4], user)
if a then return answer('adm', a) end
local p = redis.call('ZSCORE', KEYS[2], user)
if p then return answer('q', p) end
if redis.call('ZSCORE', KEYS[1], user) then return answer('pre') end
local cap = tonumber(ARGV[6])
if cap > 0 and ARGV[5] ~= '' then
  if tonumber(redis.call('HGET', KEYS[5], ARGV[5]) or '0') >= cap then return answer('ip') end
  redis.call('HINCRBY', KEYS[5], ARGV[5], 1)
end
if redis.call('HGET', KEYS[3], 'opened') ~= '1' then
  redis.call('ZADD', KEYS[1], ARGV[4], user)
  return answer('pre')
end
local seq = redis.call('HINCRBY', KEYS[3], 'seq', 1)
redis.call('ZADD', KEYS[2], seq, user)
return answer('q', tostring(seq))
"""
)

# One tick's first half. KEYS pre q meta adm admx; ARGV now opens rate burst sold_out forget_at
# -> {opened, lapsed users, head, waiting, candidates [user, place, ...], drawn}; ``drawn`` is 1 for the one tick
# that first sees a draw (made by it or by a join): that tick tells everyone in line their place.
_BUDGET = (
    _OPEN
    + """
local now, opens, rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
open_room(now, opens)
for i = 1, #KEYS do redis.call('PEXPIREAT', KEYS[i], ARGV[6]) end
if redis.call('HGET', KEYS[3], 'opened') ~= '1' then return {0, {}, '0', 0, {}, 0} end
local drawn = 0
if redis.call('HGET', KEYS[3], 'drawn') == '1' then
  redis.call('HSET', KEYS[3], 'drawn', '0')
  drawn = 1
end
local lapsed = redis.call('ZRANGEBYSCORE', KEYS[5], '-inf', now)
for _, u in ipairs(lapsed) do
  local a = redis.call('HGET', KEYS[4], u)
  if a then redis.call('HSET', KEYS[4], u, string.sub(a, 1, -2) .. 'x') end
  redis.call('ZREM', KEYS[5], u)
end
local last = tonumber(redis.call('HGET', KEYS[3], 'last') or ARGV[1])
local credits = tonumber(redis.call('HGET', KEYS[3], 'credits') or '1')
credits = math.min(burst, credits + math.max(0, now - last) * rate / 60000) + #lapsed
redis.call('HSET', KEYS[3], 'credits', tostring(credits), 'last', now, 'sold_out', ARGV[5])
local head = redis.call('HGET', KEYS[3], 'head') or '0'
local waiting = redis.call('ZCARD', KEYS[2])
if ARGV[5] == '1' or credits < 1 then return {1, lapsed, head, waiting, {}, drawn} end
return {1, lapsed, head, waiting, redis.call('ZRANGE', KEYS[2], 0, math.floor(credits) - 1, 'WITHSCORES'), drawn}
"""
)

# One tick's second half: let out the candidates PostgreSQL recorded. KEYS q meta adm admx;
# ARGV (user, place, expires_ms, state) ... -> {head, waiting}
_ADMIT = """
local head = tonumber(redis.call('HGET', KEYS[2], 'head') or '0')
local credits = tonumber(redis.call('HGET', KEYS[2], 'credits') or '0')
for i = 1, #ARGV, 4 do
  local u, place, exp, state = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local in_line = redis.call('ZSCORE', KEYS[1], u)
  if in_line then
    redis.call('ZREM', KEYS[1], u)
    head = math.max(head, tonumber(in_line))
    credits = credits - 1
  end
  redis.call('HSET', KEYS[3], u, place .. ':' .. exp .. ':' .. state)
  if state == 'a' then redis.call('ZADD', KEYS[4], exp, u) else redis.call('ZREM', KEYS[4], u) end
end
redis.call('HSET', KEYS[2], 'head', head, 'credits', tostring(math.max(credits, 0)))
return {head, redis.call('ZCARD', KEYS[1])}
"""

_ROOM = text(
    "SELECT id, status, waiting_room_enabled, COALESCE(waiting_room_opens_at, published_at) AS opens_at, "
    "admit_per_minute, ends_at FROM events WHERE id = :e"
)
_OPEN_ROOMS = text(
    "SELECT id, status, waiting_room_enabled, COALESCE(waiting_room_opens_at, published_at) AS opens_at, "
    "admit_per_minute, ends_at FROM events "
    "WHERE waiting_room_enabled AND status = 'on_sale' AND ends_at > :now "
    "AND COALESCE(waiting_room_opens_at, published_at) <= :window_end"
)
_RECORD = text(
    "INSERT INTO queue_admissions (event_id, user_id, seq, admitted_at, expires_at) "
    "SELECT :e, u, p, :now, :exp FROM unnest(CAST(:users AS bigint[]), CAST(:places AS bigint[])) AS t(u, p) "
    "ON CONFLICT (event_id, user_id) DO NOTHING"
)
_RECORDED = text(
    "SELECT user_id, seq, expires_at, used_at FROM queue_admissions WHERE event_id = :e AND user_id = ANY(:users)"
)
_ONE_RECORD = text("SELECT seq, expires_at, used_at FROM queue_admissions WHERE event_id = :e AND user_id = :u")
_MARK_USED = text(
    "UPDATE queue_admissions SET used_at = :now WHERE event_id = :e AND user_id = :u AND seq = :p AND used_at IS NULL"
)


def _keys(event_id: int) -> list[str]:
    tag = f"{{wr:{event_id}}}"
    return [redis_ext.key(tag, name) for name in ("pre", "q", "meta", "adm", "admx", "ip")]


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def _forget_at(room: Room) -> int:
    """When Redis may drop the room (ms): a day after the event ends, when nobody reads its queue any more."""
    return gate.epoch_ms(room.ends_at + FORGET_AFTER_END)


def _script(source: str):
    scripts = booking_ext.objects.setdefault("waiting_room_scripts", {})
    if source not in scripts:
        scripts[source] = redis_ext.client.register_script(source)
    return scripts[source]


def _room(row: Any) -> Room | None:
    if row is None or not row.waiting_room_enabled or row.status in ("draft", "cancelled"):
        return None
    return Room(row.id, row.opens_at or utcnow(), row.admit_per_minute, row.ends_at)


def cached_room(event_id: int) -> Room | None:
    """:func:`room_for`, remembered by this process for WAITING_ROOM_CACHE_SECONDS: every hold asks, and most
    events have no waiting room. Turning one on takes effect on holds within that time."""
    cache = booking_ext.objects.setdefault("waiting_rooms", {})
    now = time.monotonic()
    found = cache.get(event_id)
    if found is None or found[0] <= now:
        found = (now + booking_ext.settings.waiting_room_cache_seconds, room_for(event_id))
        cache[event_id] = found
    return found[1]


def room_for(event_id: int) -> Room | None:
    """The event's waiting room, or None when it has none (holds on it need no token)."""
    if event_id > MAX_ID:
        return None
    try:
        row = db.session.execute(_ROOM, {"e": event_id}).first()
    finally:
        db.session.rollback()
    return _room(row)


# -- tickets and tokens ---------------------------------------------------------------------------------------


def _mac(message: str) -> str:
    digest = hmac.new(booking_ext.settings.secret_key.encode(), message.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:18]).decode()


def ticket_for(event_id: int, user_id: int) -> str:
    """The same ticket for every tab and reload of one account: a MAC of event and user, nothing stored."""
    return f"{event_id}-{_mac(f'ticket.{event_id}.{user_id}')}"


def event_of_ticket(ticket: str, user_id: int) -> int:
    """The ticket's event when it is this user's ticket; anyone else's (or a made-up one) is 404."""
    event_part, _, _ = ticket.partition("-")
    valid = event_part.isascii() and event_part.isdigit() and len(event_part) < 19
    if valid and hmac.compare_digest(ticket, ticket_for(int(event_part), user_id)):
        return int(event_part)
    raise NotFound("No such queue ticket.")


def _token(event_id: int, user_id: int, place: int, expires_ms: int) -> str:
    payload = f"{event_id}.{user_id}.{place}.{expires_ms}"
    return f"{payload}.{_mac('admission.' + payload)}"


def check_admission(event_id: int, user_id: int, token: str | None, now: datetime | None = None) -> Admission | None:
    """Refuse a hold on a queued event unless ``token`` is this user's live, unused admission for this event.

    None when the event has no waiting room. Each refusal has its own code: ``admission_required``,
    ``admission_token_invalid`` (forged, malformed, or revoked by a restart of the queue),
    ``admission_token_wrong_event``, ``admission_token_not_yours``, ``admission_token_expired``,
    ``admission_token_used``.
    """
    room = cached_room(event_id)
    if room is None:
        return None
    now = now or utcnow()
    how = (
        f"Join the queue first: the page /events/{event_id}/queue, or POST /api/v1/events/{event_id}/queue "
        "and then send its admission_token."
    )
    if not token:
        raise AdmissionRefused(
            "This event has a waiting room: holds need an admission token (header X-Admission-Token). " + how,
            code="admission_required",
            details={"join": f"/api/v1/events/{event_id}/queue", "page": f"/events/{event_id}/queue"},
        )
    parts = token.split(".")
    if len(parts) != 5 or not all(p.isascii() and p.isdigit() and len(p) < 19 for p in parts[:4]):
        raise AdmissionRefused("The admission token is not one this site issued.", code="admission_token_invalid")
    token_event, token_user, place, expires_ms = (int(p) for p in parts[:4])
    if not hmac.compare_digest(token, _token(token_event, token_user, place, expires_ms)):
        raise AdmissionRefused("The admission token is not one this site issued.", code="admission_token_invalid")
    if token_event != event_id:
        raise AdmissionRefused("The admission token is for another event. " + how, code="admission_token_wrong_event")
    if token_user != user_id:
        raise AdmissionRefused("The admission token belongs to someone else.", code="admission_token_not_yours")
    state = _admission_state(event_id, user_id, place)
    if state == "u":
        raise AdmissionRefused("The admission token has already been used for a hold.", code="admission_token_used")
    if state == "x" or expires_ms <= gate.epoch_ms(now):
        raise AdmissionRefused(
            "The admission token has expired: the turn passed to the next in line. " + how,
            code="admission_token_expired",
        )
    if state is None:
        raise AdmissionRefused("The admission token is no longer valid. " + how, code="admission_token_invalid")
    return Admission(event_id, user_id, place)


def _admission_state(event_id: int, user_id: int, place: int) -> str | None:
    """``a``, ``u`` or ``x`` for this admission; Redis first, else PostgreSQL's row (and Redis learns it again)."""
    keys = _keys(event_id)
    raw = redis_ext.client.hget(keys[3], user_id)
    if raw is not None:
        recorded_place, _, state = raw.decode().split(":")
        return state if int(recorded_place) == place else None
    try:
        row = db.session.execute(_ONE_RECORD, {"e": event_id, "u": user_id}).first()
    finally:
        db.session.rollback()
    if row is None or row.seq != place:
        return None
    state = "u" if row.used_at else "a"
    expires_ms = gate.epoch_ms(row.expires_at)
    _script(_ADMIT)(keys=[keys[1], keys[2], keys[3], keys[4]], args=[user_id, place, expires_ms, state])
    return state


def mark_used(admission: Admission, now: datetime | None = None) -> None:
    """The hold the token allowed was made: the token is spent (PostgreSQL first, it is the truth)."""
    now = now or utcnow()
    with transaction() as session:
        session.execute(_MARK_USED, {"e": admission.event_id, "u": admission.user_id, "p": admission.place, "now": now})
        row = session.execute(_ONE_RECORD, {"e": admission.event_id, "u": admission.user_id}).first()
    keys = _keys(admission.event_id)
    _script(_ADMIT)(
        keys=[keys[1], keys[2], keys[3], keys[4]],
        args=[admission.user_id, admission.place, gate.epoch_ms(row.expires_at), "u"],
    )


# -- joining and reading -------------------------------------------------------------------------------------


def join(event_id: int, user_id: int, ip: str = "", now: datetime | None = None) -> QueueState:
    """Take a place in the event's queue, or see the one already taken (idempotent: one place per account).

    Reading a ticket's state comes here too: someone whom a wiped Redis forgot takes a place again, at the
    back, first come first served (their admission, if they had one, comes back from PostgreSQL).
    """
    now = now or utcnow()
    room = room_for(event_id)
    if room is None:
        raise NotFound("This event has no waiting room.")
    prequeue = booking_ext.settings.waiting_room_prequeue_seconds
    window_opens = room.opens_at - timedelta(seconds=prequeue)
    if now < window_opens:
        raise Conflict(
            f"The queue opens at {window_opens.isoformat()}, {prequeue // 60} minutes "
            "before the sale; arriving any time in that window gives the same chance.",
            code="queue_not_open",
            details={"queue_opens_at": window_opens.isoformat(), "sale_opens_at": room.opens_at.isoformat()},
        )
    keys = _keys(event_id)
    kind, value, head, sold_out = _script(_JOIN)(
        keys=[*keys[:4], keys[5]],
        args=[
            user_id,
            gate.epoch_ms(now),
            gate.epoch_ms(room.opens_at),
            secrets.randbits(LOTTERY_BITS),
            ip,
            booking_ext.settings.waiting_room_max_per_ip,
            _forget_at(room),
        ],
    )
    kind, value = kind.decode(), value.decode()
    if kind == "ip":
        raise QueueFull(
            "Too many people have joined this queue from your network.",
            details={"max_per_ip": booking_ext.settings.waiting_room_max_per_ip},
        )
    return _view(room, user_id, kind, value, int(head), sold_out == b"1", now)


def _view(room: Room, user_id: int, kind: str, value: str, head: int, sold_out: bool, now: datetime) -> QueueState:
    base = {"event_id": room.event_id, "ticket": ticket_for(room.event_id, user_id), "opens_at": room.opens_at}
    if kind == "adm":
        place, expires_ms, flag = value.split(":")
        used, lapsed = flag == "u", flag == "x" or (flag == "a" and int(expires_ms) <= gate.epoch_ms(now))
        return QueueState(
            **base,
            status="expired" if lapsed else "admitted",
            position=None,
            place=int(place),
            eta_seconds=0,
            admission_token=None if lapsed else _token(room.event_id, user_id, int(place), int(expires_ms)),
            admission_expires_at=_at(int(expires_ms)),
            admission_used=used,
        )
    if kind == "pre":
        until = max(0, math.ceil((room.opens_at - now).total_seconds()))
        return QueueState(
            **base, status="sold_out" if sold_out else "waiting", position=None, place=None, eta_seconds=until
        )
    place = int(float(value))
    position = max(1, place - head)
    return QueueState(
        **base,
        status="sold_out" if sold_out else "waiting",
        position=position,
        place=place,
        eta_seconds=eta_seconds(position, room.admit_per_minute),
    )


def eta_seconds(position: int, admit_per_minute: int) -> int:
    """When the person ``position`` in line is let in at the room's rate (the first one: within a tick)."""
    return math.ceil((position - 1) * 60 / admit_per_minute)


# -- the scheduler's tick ------------------------------------------------------------------------------------


@dataclass
class TickResult:
    event_id: int
    admitted: list[int]
    lapsed: list[int]
    head: int
    waiting: int
    sold_out: bool


def tick(now: datetime | None = None) -> list[TickResult]:
    """Open due rooms, lapse unused admissions, admit the next people at each room's rate, announce progress."""
    now = now or utcnow()
    window_end = now + timedelta(seconds=booking_ext.settings.waiting_room_prequeue_seconds)
    try:
        rows = db.session.execute(_OPEN_ROOMS, {"now": now, "window_end": window_end}).all()
    finally:
        db.session.rollback()
    results = []
    for row in rows:
        room = _room(row)
        if room is not None and room.opens_at <= now:
            results.append(admit(room, now))
    return results


def admit(room: Room, now: datetime) -> TickResult:
    """One admission round for one room; PostgreSQL records each admission before Redis hands out a token."""
    keys = _keys(room.event_id)
    sold_out = _sold_out(room.event_id, now)
    burst = max(1.0, room.admit_per_minute * booking_ext.settings.waiting_room_burst_seconds / 60)
    opened, lapsed, head, waiting, flat, drawn = _script(_BUDGET)(
        keys=keys[:5],
        args=[
            gate.epoch_ms(now),
            gate.epoch_ms(room.opens_at),
            room.admit_per_minute,
            burst,
            "1" if sold_out else "0",
            _forget_at(room),
        ],
    )
    candidates = [(int(flat[i]), int(float(flat[i + 1]))) for i in range(0, len(flat), 2)]
    admitted: list[int] = []
    head, waiting = int(head), int(waiting)
    if candidates:
        expires = now + timedelta(seconds=booking_ext.settings.waiting_room_admission_seconds)
        users = [u for u, _ in candidates]
        with transaction() as session:
            session.execute(
                _RECORD,
                {"e": room.event_id, "users": users, "places": [p for _, p in candidates], "now": now, "exp": expires},
            )
            recorded = {r.user_id: r for r in session.execute(_RECORDED, {"e": room.event_id, "users": users})}
        args: list[Any] = []
        for user_id, place in candidates:
            r = recorded[user_id]  # a row from before a wipe keeps its first place, deadline and use
            fresh = r.used_at is None and r.expires_at > now
            state = "u" if r.used_at else ("a" if fresh else "x")
            args += [user_id, r.seq, gate.epoch_ms(r.expires_at), state]
            if fresh and r.seq == place:
                admitted.append(user_id)
        head, waiting = _script(_ADMIT)(keys=keys[1:5], args=args)
        for user_id in admitted:
            view = _view(room, user_id, "adm", f"{recorded[user_id].seq}:{gate.epoch_ms(expires)}:a", head, False, now)
            publish.to_user(user_id, "queue_admitted", view.to_dict())
    result = TickResult(room.event_id, admitted, [int(u) for u in lapsed], int(head), int(waiting), sold_out)
    if opened:
        _announce(room, result, now, drawn=bool(drawn))
    return result


def _sold_out(event_id: int, now: datetime) -> bool:
    """Every place booked and none held (a held place may still come back): nobody still waiting can buy."""
    try:
        counts = gate.counts(event_id, gate.epoch_ms(now))
        if counts.capacity is not None:
            return counts.booked >= counts.capacity
    except gate.GateUnavailable:
        pass
    try:
        c = availability.counts(db.session, event_id, now)
    finally:
        db.session.rollback()
    return c["booked"] >= c["total"]


def _announce(room: Room, result: TickResult, now: datetime, drawn: bool = False) -> None:
    """Tell everyone in line where the head is, at most every WAITING_ROOM_PUSH_SECONDS (sold out: at once).

    The same message to every waiting person's room (``publish.to_each``): each page knows its own place and works
    out its position, so the cost is a few Redis publishes per room and tick, not one per person. The tick that
    first sees the draw instead tells each person in line their own place, at once: a page that joined the
    pre-queue has no place yet, and would otherwise have to ask for it, all of them in the same seconds (decision
    0026).
    """
    meta, line = _keys(room.event_id)[2], _keys(room.event_id)[1]
    interval_ms = int(booking_ext.settings.waiting_room_push_seconds * 1000)
    client = redis_ext.client
    last_sold_out = client.hget(meta, "pushed_sold_out") == b"1"
    due = client.set(meta + ":push", 1, nx=True, px=interval_ms)
    if not drawn and result.sold_out == last_sold_out and not due:
        return
    if drawn and not due:
        client.set(meta + ":push", 1, px=interval_ms)  # the next head-only push comes a full interval later
    client.hset(meta, "pushed_sold_out", "1" if result.sold_out else "0")
    progress = {
        "event_id": room.event_id,
        "head": result.head,
        "waiting": result.waiting,
        "admit_per_minute": room.admit_per_minute,
        "sold_out": result.sold_out,
        "sent_at_ms": gate.epoch_ms(now),
    }
    if drawn:
        places = client.zrange(line, 0, -1, withscores=True)
        publish.to_users("queue_progress", progress, {int(u): {"place": int(p)} for u, p in places})
        return
    publish.to_each("queue_progress", progress, [int(u) for u in client.zrange(line, 0, -1)])


def queue_lengths() -> dict[int, int]:
    """People in line per open room, for the metrics."""
    now = utcnow()
    try:
        rows = db.session.execute(_OPEN_ROOMS, {"now": now, "window_end": now + timedelta(days=366)}).all()
    finally:
        db.session.rollback()
    pipe = redis_ext.client.pipeline(transaction=False)
    for row in rows:
        keys = _keys(row.id)
        pipe.zcard(keys[1])
        pipe.zcard(keys[0])
    sizes = pipe.execute()
    return {row.id: sizes[2 * i] + sizes[2 * i + 1] for i, row in enumerate(rows)}
