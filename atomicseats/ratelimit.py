"""A rate limit checked inside a view: Flask-Limiter's strategy and Redis storage, without its route decorator.

Hold creation is the hottest write in the product and its Python is what bounds its throughput. Flask-Limiter's
route decorator resolves every configured limit, exemption and scope on each call, about as much CPU as the
hold's own Redis gate; this checks the one limit the route has with the same strategy (``limiter.limiter``),
storage and key prefix, and answers 429 with ``Retry-After`` through the same error handler. When Redis is
unreachable it counts in this process's memory instead, as Flask-Limiter's in-memory fallback does, and goes
back to Redis once Redis answers again.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from functools import lru_cache

from flask import current_app
from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import STRATEGIES, RateLimiter
from werkzeug.exceptions import TooManyRequests

from atomicseats.extensions import limiter

log = logging.getLogger(__name__)
RETRY_STORAGE_SECONDS = 5.0

_fallback: dict[str, RateLimiter] = {}
_fallback_lock = threading.Lock()
_storage_down_until = 0.0


@lru_cache(maxsize=64)
def _item(spec: str) -> RateLimitItem:
    return parse(spec)


def _memory_limiter() -> RateLimiter:
    strategy = current_app.config["RATELIMIT_STRATEGY"]
    with _fallback_lock:
        if strategy not in _fallback:
            _fallback[strategy] = STRATEGIES[strategy](MemoryStorage())
        return _fallback[strategy]


def enforce(spec: str, scope: str, who: object) -> None:
    """Count one call of ``who`` against ``spec`` (e.g. "60 per minute") in ``scope``; 429 past the limit."""
    global _storage_down_until
    if not limiter.enabled:
        return
    item = _item(spec)
    key = (current_app.config["RATELIMIT_KEY_PREFIX"], scope, str(who))
    strategy = limiter.limiter
    if time.monotonic() < _storage_down_until:
        strategy = _memory_limiter()
    try:
        allowed = strategy.hit(item, *key)
    except Exception as exc:  # storage unreachable: count in memory for a while, as Flask-Limiter would
        log.warning("rate limit storage unreachable, counting in memory: %s", exc)
        _storage_down_until = time.monotonic() + RETRY_STORAGE_SECONDS
        strategy = _memory_limiter()
        allowed = strategy.hit(item, *key)
    if not allowed:
        reset_at, _ = strategy.get_window_stats(item, *key)
        raise TooManyRequests(retry_after=seconds_until_reset(item, reset_at))  # errors.py words the answer


def seconds_until_reset(item: RateLimitItem, reset_time: float) -> int:
    """Whole seconds until a window that resets at ``reset_time`` does (at least 1, at most the window)."""
    return max(1, min(item.get_expiry(), math.ceil(reset_time - time.time())))
