"""allauth's rate limits on Redis in one round trip per rate instead of four.

allauth keeps each limit (sign-ins per address, failed sign-ins per address and per account) as
a list of timestamps in the cache and guards it with a lock of its own: add the lock, get the
list, set it, delete the lock. A sign-in that succeeds consumes three limits and rolls back two,
which makes 20 Redis commands, the largest part of its cost after the password hash
(bench/README.md). On Redis the same sliding window is a sorted set that one script trims,
counts and appends to atomically, so no lock is needed. The rates, their keys and allauth's
semantics are unchanged: a hit at `now` counts until `now + duration`, a refusal records
nothing, and a rolled-back hit is removed. With any other cache (the embedded default's local
memory) allauth's own code runs.
"""

import secrets
import time
from dataclasses import dataclass

from allauth.core.exceptions import RateLimited
from allauth.core.internal import ratelimit as allauth_ratelimit
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache

# KEYS[1]: the rate's window; ARGV: now, duration (s), amount, member ("" = dry run).
CONSUME_SCRIPT = """
local now = tonumber(ARGV[1])
local duration = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - duration)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
  return 0
end
if ARGV[4] ~= '' then
  redis.call('ZADD', KEYS[1], now, ARGV[4])
  redis.call('EXPIRE', KEYS[1], math.ceil(duration))
end
return 1
"""

allauth_consume_single_rate = allauth_ratelimit._consume_single_rate
allauth_clear = allauth_ratelimit.clear


def _redis_cache():
    backend = caches["default"]
    return backend if isinstance(backend, RedisCache) else None


def _window(backend, cache_key):
    """(client, key) of a rate's window; its own key beside allauth's list, never read as one."""
    redis_key = backend.make_and_validate_key(f"{cache_key}:window")
    return backend._cache.get_client(redis_key, write=True), redis_key


@dataclass
class WindowUsage(allauth_ratelimit.SingleRateLimitUsage):
    member: str = ""

    def rollback(self):
        backend = _redis_cache()
        if self.member and backend is not None:
            client, redis_key = _window(backend, self.cache_key)
            client.zrem(redis_key, self.member)


def consume_single_rate(request, *, app, action, rate, key=None, user=None, dry_run=False,
                        raise_exception=False):
    backend = _redis_cache()
    if backend is None:
        return allauth_consume_single_rate(
            request, app=app, action=action, rate=rate, key=key, user=user, dry_run=dry_run,
            raise_exception=raise_exception)
    cache_key = allauth_ratelimit.get_cache_key(
        request, app=app, action=action, rate=rate, key=key, user=user)
    client, redis_key = _window(backend, cache_key)
    now = time.time()
    member = "" if dry_run else f"{now!r}-{secrets.token_hex(4)}"
    allowed = client.register_script(CONSUME_SCRIPT)(
        keys=[redis_key], args=[repr(now), rate.duration, rate.amount, member])
    if not allowed:
        if raise_exception:
            raise RateLimited
        return None
    return WindowUsage(cache_key=cache_key, cache_duration=rate.duration, timestamp=now,
                       member=member)


def clear(request, *, app, action, config=None, key=None, user=None):
    backend = _redis_cache()
    if backend is None:
        return allauth_clear(request, app=app, action=action, config=config, key=key, user=user)
    rates = allauth_ratelimit.get_rates(app=app, action=action, config=config)
    windows = [_window(backend, allauth_ratelimit.get_cache_key(
        request, app=app, action=action, rate=rate, key=key, user=user)) for rate in rates]
    if windows:
        windows[0][0].delete(*(redis_key for _client, redis_key in windows))


def install():
    """Route allauth's per-rate consume and its clear through the functions above.

    allauth's consume() looks both up by name in its module at each call; if a release stops
    doing so, start-up stops here rather than the limits silently going back to four trips.
    """
    from allauth.core import ratelimit as allauth_public_ratelimit

    if ("_consume_single_rate" not in allauth_ratelimit.consume.__code__.co_names
            or "clear" not in allauth_public_ratelimit.clear.__code__.co_names):
        raise RuntimeError("allauth's rate limiter changed: review accounts/ratelimit.py "
                           "against the installed allauth")
    allauth_ratelimit._consume_single_rate = consume_single_rate
    allauth_ratelimit.clear = clear
