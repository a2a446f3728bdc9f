"""Django's Redis cache, with one redis client per connection pool instead of one per call.

Django's RedisCacheClient builds a new `redis.Redis` for every cache operation; redis-py's
constructor fills a table of about 170 response callbacks each time. A sign-in makes about 25
cache calls (allauth's rate-limit locks, the session), so that was a measurable part of the CPU
around the password hash (bench/README.md). A `redis.Redis` is safe to share between threads.
"""

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient
from django.utils.functional import cached_property


class ReusedClientRedisCacheClient(RedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)
        return client


class RedisCache(DjangoRedisCache):
    @cached_property
    def _cache(self):
        return ReusedClientRedisCacheClient(self._servers, **self._options)
