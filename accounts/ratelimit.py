"""allauth's rate limits on Redis in one round trip per check instead of four per rate.

allauth keeps each limit (sign-ins per address, failed sign-ins per address and per account) as
a list of timestamps in the cache and guards it with a lock of its own: add the lock, get the
list, set it, delete the lock, for every rate. A sign-in that succeeds consumes three rates and
rolls back two, which made 20 Redis commands, the largest part of its cost after the password
hash (bench/README.md). On Redis the same sliding windows are sorted sets that one script
trims, counts and appends to, every rate of the action at once and atomically, so no lock is
needed and parallel requests cannot slip past a limit. allauth's semantics are kept: the rates
are checked in order, each allowed one records the hit until `now + duration`, the first
refusal stops there, and a rollback removes the hits it recorded. With any other cache (the
embedded default's local memory) allauth's own code runs.
"""

import secrets
import time
from dataclasses import dataclass, field

from allauth.core.exceptions import RateLimited
from allauth.core.internal import ratelimit as allauth_ratelimit
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache

# KEYS: one window per rate. ARGV: now, member ("" = dry run), then duration and amount per rate.
# Returns how many rates allowed the hit; fewer than #KEYS means the next one refused it.
CONSUME_SCRIPT = """
local now = tonumber(ARGV[1])
for i, window in ipairs(KEYS) do
  local duration = tonumber(ARGV[2 * i + 1])
  redis.call('ZREMRANGEBYSCORE', window, '-inf', now - duration)
  if redis.call('ZCARD', window) >= tonumber(ARGV[2 * i + 2]) then
    return i - 1
  end
  if ARGV[2] ~= '' then
    redis.call('ZADD', window, now, ARGV[2])
    redis.call('EXPIRE', window, math.ceil(duration))
  end
end
return #KEYS
"""

allauth_consume = allauth_ratelimit.consume
allauth_clear = allauth_ratelimit.clear


def _redis_cache():
    backend = caches["default"]
    return backend if isinstance(backend, RedisCache) else None


def _client(backend):
    return backend._cache.get_client(write=True)


def _windows(backend, request, *, app, action, rates, key, user):
    """Each rate's window key: its own beside allauth's list, so neither is read as the other."""
    keys = (allauth_ratelimit.get_cache_key(
        request, app=app, action=action, rate=rate, key=key, user=user) for rate in rates)
    return [backend.make_and_validate_key(f"{cache_key}:window") for cache_key in keys]


@dataclass
class WindowsUsage(allauth_ratelimit.RateLimitUsage):
    windows: list = field(default_factory=list)
    member: str = ""

    def rollback(self):
        backend = _redis_cache()
        if self.member and self.windows and backend is not None:
            pipe = _client(backend).pipeline(transaction=False)
            for window in self.windows:
                pipe.zrem(window, self.member)
            pipe.execute()


def consume(request, *, app, action, config=None, key=None, user=None, dry_run=False,
            limit_get=False, raise_exception=False):
    backend = _redis_cache()
    if backend is None:
        return allauth_consume(
            request, app=app, action=action, config=config, key=key, user=user, dry_run=dry_run,
            limit_get=limit_get, raise_exception=raise_exception)
    if (not limit_get and request.method == "GET") or not (
            rates := allauth_ratelimit.get_rates(app=app, action=action, config=config)):
        return allauth_ratelimit.RateLimitUsage(usage=[])
    windows = _windows(backend, request, app=app, action=action, rates=rates, key=key, user=user)
    now = time.time()
    member = "" if dry_run else f"{now!r}-{secrets.token_hex(4)}"
    args = [repr(now), member]
    for rate in rates:
        args += [rate.duration, rate.amount]
    allowed = _client(backend).register_script(CONSUME_SCRIPT)(keys=windows, args=args)
    if allowed < len(rates):
        if raise_exception:
            raise RateLimited
        return None
    return WindowsUsage(usage=[], windows=windows, member=member)


def clear(request, *, app, action, config=None, key=None, user=None):
    backend = _redis_cache()
    if backend is None:
        return allauth_clear(request, app=app, action=action, config=config, key=key, user=user)
    rates = allauth_ratelimit.get_rates(app=app, action=action, config=config)
    if rates:
        _client(backend).delete(*_windows(
            backend, request, app=app, action=action, rates=rates, key=key, user=user))


def install():
    """Route allauth's consume and clear through the functions above.

    allauth's public functions, its view decorator and consume_or_429 look both up by name in
    its module at each call; if a release stops doing so, start-up stops here rather than the
    limits silently going back to four trips per rate.
    """
    from allauth.core import ratelimit as allauth_public_ratelimit

    if ("consume" not in allauth_ratelimit.consume_or_429.__code__.co_names
            or "consume" not in allauth_public_ratelimit.consume.__code__.co_names
            or "clear" not in allauth_public_ratelimit.clear.__code__.co_names):
        raise RuntimeError("allauth's rate limiter changed: review accounts/ratelimit.py "
                           "against the installed allauth")
    allauth_ratelimit.consume = consume
    allauth_ratelimit.clear = clear
