"""Errors that mean "a shared service is down, try again later" (a 503, never a 500)."""

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

# Redis (the cache, the rate limits, the reset counters) unreachable or too slow.
UNAVAILABLE = (RedisConnectionError, RedisTimeoutError, ConnectionRefusedError)
