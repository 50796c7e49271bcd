"""The Redis fast gate: claims seats all-or-nothing in one Lua call, before PostgreSQL is asked.

Per event, one hash-tagged key family (so a cluster keeps them on one slot):
``held``   sorted set, member = seat id (or ``<hold>:<i>`` placeholders for general admission),
           score = expiry in ms: a member whose score is past counts as free, so nothing has to sweep it;
``owner``  hash, seat id -> hold id, so that a late release never frees someone else's claim;
``booked`` set of booked seat ids; ``cap`` total places, written when the gate is (re)built;
``pending`` sorted set, member = ``<hold>:<places>`` of a hold in checkout, score = its grace expiry in ms,
           so that a refusal can say how many places may still come back when their payment fails.

Redis is an optimisation, never the truth: PostgreSQL re-checks every claim, so a wiped or stale gate
can only let a request through to PostgreSQL (which refuses it) or turn one away briefly.
Every function here raises :class:`GateUnavailable` when Redis cannot be reached, and callers then
go straight to PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import redis
from redis.commands.core import Script

from atomicseats.extensions import redis_ext


class GateUnavailable(Exception):
    pass


def epoch_ms(moment: datetime) -> int:
    """A time as the gate scores it: milliseconds since the epoch."""
    return int(moment.timestamp() * 1000)


_CLAIM_SEATS = """
local now = tonumber(ARGV[1])
local taken = {}
for i = 4, #ARGV do
  local s = ARGV[i]
  if redis.call('SISMEMBER', KEYS[3], s) == 1 then
    taken[#taken + 1] = s
  else
    local score = redis.call('ZSCORE', KEYS[1], s)
    if score and tonumber(score) > now then taken[#taken + 1] = s end
  end
end
if #taken > 0 then return {taken} end
for i = 4, #ARGV do
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[i])
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[3])
end
local cap = redis.call('GET', KEYS[4])
return {{}, {redis.call('ZCOUNT', KEYS[1], '(' .. ARGV[1], '+inf'), redis.call('SCARD', KEYS[3]), cap or -1}}
"""

# Release, extend or book the seats that ``token`` owns; seats owned by another hold are left alone.
_SEATS_OF_OWNER = """
local action, token, score = ARGV[1], ARGV[2], ARGV[3]
for i = 4, #ARGV do
  local s = ARGV[i]
  local owned = redis.call('HGET', KEYS[2], s) == token
  if action == 'extend' then
    if owned then redis.call('ZADD', KEYS[1], score, s) end
  else
    if owned then
      redis.call('ZREM', KEYS[1], s)
      redis.call('HDEL', KEYS[2], s)
    end
    if action == 'book' then redis.call('SADD', KEYS[3], s) end
  end
end
return 1
"""

_CLAIM_PLACES = """
local cap = redis.call('GET', KEYS[3])
if not cap then return {-1, 0} end
local now, exp, token, n = tonumber(ARGV[1]), ARGV[2], ARGV[3], tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local free = tonumber(cap) - redis.call('ZCARD', KEYS[1]) - redis.call('SCARD', KEYS[2])
local take = n
if free < n then
  if ARGV[5] == '1' and free > 0 then take = free else return {0, math.max(free, 0)} end
end
for i = 1, take do redis.call('ZADD', KEYS[1], exp, token .. ':' .. i) end
return {1, take}
"""

# General admission: drop (or re-score) a hold's placeholders, optionally marking booked place ids.
_PLACES_OF_OWNER = """
local action, token, n, score = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
for i = 1, n do
  local m = token .. ':' .. i
  if action == 'extend' then
    if redis.call('ZSCORE', KEYS[1], m) then redis.call('ZADD', KEYS[1], score, m) end
  else
    redis.call('ZREM', KEYS[1], m)
  end
end
if action == 'book' then
  for i = 5, #ARGV do redis.call('SADD', KEYS[2], ARGV[i]) end
end
return 1
"""

# A look without a claim: how many places are free and pending, and which of the given seats are taken.
_PEEK = """
local cap = redis.call('GET', KEYS[3])
if not cap then return {-1} end
local now = tonumber(ARGV[1])
local pending = 0
for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[4], '(' .. now, '+inf')) do
  pending = pending + tonumber(string.match(m, ':(%d+)$'))
end
local taken = {}
for i = 2, #ARGV do
  local s = ARGV[i]
  local score = redis.call('ZSCORE', KEYS[1], s)
  if redis.call('SISMEMBER', KEYS[2], s) == 1 or (score and tonumber(score) > now) then taken[#taken + 1] = s end
end
local free = tonumber(cap) - redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf') - redis.call('SCARD', KEYS[2])
return {free, pending, taken}
"""

_COUNTS = """
local held = redis.call('ZCOUNT', KEYS[1], '(' .. ARGV[1], '+inf')
return {held, redis.call('SCARD', KEYS[2]), tonumber(redis.call('GET', KEYS[3]) or '-1')}
"""


@dataclass(frozen=True)
class GateCounts:
    held: int
    booked: int
    capacity: int | None  # None when the gate has not been built for this event


@dataclass(frozen=True)
class Peek:
    free: int  # places neither held nor booked
    pending: int  # held places whose hold is in checkout
    taken: list[int]  # of the seats asked about, those held or booked


def _keys(event_id: int) -> tuple[str, str, str, str]:
    tag = f"{{ev:{event_id}}}"
    return (
        redis_ext.key(tag, "held"),
        redis_ext.key(tag, "owner"),
        redis_ext.key(tag, "booked"),
        redis_ext.key(tag, "cap"),
    )


def _pending_key(event_id: int) -> str:
    return redis_ext.key(f"{{ev:{event_id}}}", "pending")


_scripts: dict[str, Script] = {}


def _run(source: str, keys: list[str], args: list) -> list | int:
    client = redis_ext.client
    script = _scripts.get(source)
    if script is None:
        script = _scripts[source] = client.register_script(source)
    try:
        return script(keys=keys, args=args, client=client)
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        raise GateUnavailable(str(exc)) from exc


def claim_seats(
    event_id: int, seat_ids: Iterable[int], token: str, expires_ms: int, now_ms: int
) -> tuple[list[int], GateCounts | None]:
    """Claim every seat or none: the seat ids already taken (empty on success), and on success the
    event's counts right after the claim (one round trip instead of a second call for the live update)."""
    held, owner, booked, cap = _keys(event_id)
    result = _run(_CLAIM_SEATS, [held, owner, booked, cap], [now_ms, expires_ms, token, *seat_ids])
    if result[0]:
        return [int(s) for s in result[0]], None
    h, b, c = (int(v) for v in result[1])
    return [], GateCounts(held=h, booked=b, capacity=None if c < 0 else c)


def release_seats(event_id: int, seat_ids: Iterable[int], token: str) -> None:
    held, owner, booked, _ = _keys(event_id)
    _run(_SEATS_OF_OWNER, [held, owner, booked], ["release", token, 0, *seat_ids])


def extend_seats(event_id: int, seat_ids: Iterable[int], token: str, expires_ms: int) -> None:
    held, owner, booked, _ = _keys(event_id)
    _run(_SEATS_OF_OWNER, [held, owner, booked], ["extend", token, expires_ms, *seat_ids])


def extend_hold(event_id: int, token: str, seat_ids: list[int], general: bool, expires_ms: int) -> None:
    """Re-score one hold's claim, its seats or (``general``) as many general-admission places, to ``expires_ms``."""
    if general:
        places_of_owner(event_id, "extend", token, len(seat_ids), expires_ms)
    else:
        extend_seats(event_id, seat_ids, token, expires_ms)


def book_seats(event_id: int, seat_ids: Iterable[int], token: str) -> None:
    held, owner, booked, _ = _keys(event_id)
    _run(_SEATS_OF_OWNER, [held, owner, booked], ["book", token, 0, *seat_ids])


def unbook_seats(event_id: int, seat_ids: Iterable[int]) -> None:
    ids = list(seat_ids)
    if not ids:
        return
    _, _, booked, _ = _keys(event_id)
    try:
        redis_ext.client.srem(booked, *ids)
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        raise GateUnavailable(str(exc)) from exc


def claim_places(
    event_id: int, quantity: int, token: str, expires_ms: int, now_ms: int, allow_partial: bool
) -> tuple[int, int] | None:
    """General admission: reserve ``quantity`` places (or what is left, if partial is allowed).

    Returns ``(granted, free_before)``; granted is 0 when too few are left. None when the gate is not
    built for the event (PostgreSQL decides alone).
    """
    held, _, booked, cap = _keys(event_id)
    ok, value = _run(_CLAIM_PLACES, [held, booked, cap], [now_ms, expires_ms, token, quantity, int(allow_partial)])
    if ok == -1:
        return None
    return (int(value), int(value)) if ok == 1 else (0, int(value))


def places_of_owner(
    event_id: int, action: str, token: str, quantity: int, expires_ms: int = 0, booked_ids: Iterable[int] = ()
) -> None:
    """``release``, ``extend`` or ``book`` the placeholders of a general-admission hold."""
    held, _, booked, _ = _keys(event_id)
    _run(_PLACES_OF_OWNER, [held, booked], [action, token, quantity, expires_ms, *booked_ids])


def peek(event_id: int, now_ms: int, seat_ids: Iterable[int] = ()) -> Peek | None:
    """What a hold request would meet, without claiming anything; None when the gate is not built."""
    held, _, booked, cap = _keys(event_id)
    result = _run(_PEEK, [held, booked, cap, _pending_key(event_id)], [now_ms, *seat_ids])
    if int(result[0]) == -1 and len(result) == 1:
        return None
    return Peek(free=max(int(result[0]), 0), pending=int(result[1]), taken=[int(s) for s in result[2]])


def mark_pending(event_id: int, hold_id: str, places: int, until_ms: int, now_ms: int) -> None:
    """A hold entered checkout: its places count as pending until ``until_ms`` (or :func:`clear_pending`)."""
    key = _pending_key(event_id)
    try:
        pipe = redis_ext.client.pipeline(transaction=False)
        pipe.zremrangebyscore(key, "-inf", now_ms)
        pipe.zadd(key, {f"{hold_id}:{places}": until_ms})
        pipe.execute()
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        raise GateUnavailable(str(exc)) from exc


def clear_pending(event_id: int, hold_id: str, places: int) -> None:
    try:
        redis_ext.client.zrem(_pending_key(event_id), f"{hold_id}:{places}")
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        raise GateUnavailable(str(exc)) from exc


def counts(event_id: int, now_ms: int) -> GateCounts:
    held, _, booked, cap = _keys(event_id)
    h, b, c = _run(_COUNTS, [held, booked, cap], [now_ms])
    return GateCounts(held=int(h), booked=int(b), capacity=None if int(c) < 0 else int(c))


def rebuild(
    event_id: int,
    capacity: int,
    held: dict[str, int],
    owners: dict[str, str],
    booked: Iterable[int],
    pending: dict[str, int],
) -> None:
    """Replace the event's gate with the given state in one MULTI/EXEC, so no reader sees it half-built."""
    held_key, owner_key, booked_key, cap_key = _keys(event_id)
    pending_key = _pending_key(event_id)
    booked = list(booked)
    try:
        pipe = redis_ext.client.pipeline(transaction=True)
        pipe.delete(held_key, owner_key, booked_key, pending_key)
        if held:
            pipe.zadd(held_key, held)
        if owners:
            pipe.hset(owner_key, mapping=owners)
        if pending:
            pipe.zadd(pending_key, pending)
        if booked:
            pipe.sadd(booked_key, *booked)
        pipe.set(cap_key, capacity)
        pipe.execute()
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        raise GateUnavailable(str(exc)) from exc


@dataclass(frozen=True)
class Snapshot:
    """Whether the gate is built, its live held members (with their expiry scores), who owns each held seat, and
    the booked seat ids."""

    built: bool
    held: dict[str, int]
    owners: dict[str, str]
    booked: set[int]


def snapshot(event_id: int, now_ms: int) -> Snapshot:
    """The gate as it is now, in one MULTI/EXEC, for reconciliation to compare with PostgreSQL."""
    held_key, owner_key, booked_key, cap_key = _keys(event_id)
    try:
        pipe = redis_ext.client.pipeline(transaction=True)
        pipe.exists(cap_key)
        pipe.zrangebyscore(held_key, f"({now_ms}", "+inf", withscores=True)
        pipe.hgetall(owner_key)
        pipe.smembers(booked_key)
        built, live, owners, booked = pipe.execute()
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        raise GateUnavailable(str(exc)) from exc
    held = {m.decode(): int(s) for m, s in live}
    return Snapshot(
        built=bool(built),
        held=held,
        owners={k.decode(): v.decode() for k, v in owners.items() if k.decode() in held},
        booked={int(b) for b in booked},
    )


def is_built(event_id: int) -> bool:
    try:
        return bool(redis_ext.client.exists(_keys(event_id)[3]))
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        raise GateUnavailable(str(exc)) from exc
