"""Django internals the portal relies on: the one module that touches them.

Checked against Django 5.2.19 (CHECKED_AGAINST; redis-py 8.1.0 for the cache). Each entry below
names the upstream issue it works around, the figures that keep it (bench/README.md), and the
test in tests/core/test_compat.py that drives it through Django's public entry point.

Settings point here: CACHES["default"]["BACKEND"] = "core.compat.django.RedisCache" (production)
and SESSION_ENGINE = "core.compat.django" (its SessionStore).
"""

import logging

from django.contrib.sessions.backends.base import VALID_KEY_CHARS, CreateError, UpdateError
from django.contrib.sessions.backends.cached_db import SessionStore as CachedDBStore
from django.core import checks
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient
from django.core.checks.registry import registry
from django.db import DatabaseError, IntegrityError, router, transaction
from django.utils.crypto import get_random_string
from django.utils.functional import cached_property

CHECKED_AGAINST = "Django 5.2.19"

log = logging.getLogger(__name__)


# --- The Redis cache: one client per connection pool -------------------------------------------

class ReusedClientRedisCacheClient(RedisCacheClient):
    """Django's RedisCacheClient builds a new `redis.Redis` for every cache operation
    (get_client() → `self._client(connection_pool=pool)`), and redis-py 8's constructor fills a
    table of about 170 response callbacks each time. A sign-in makes about 25 cache calls, so
    that was a measurable part of the CPU around the password hash. A `redis.Redis` is safe to
    share between threads: here there is one per pool.

    Upstream: Django ticket #35651 / django/django#18459 ("Reusing RedisCacheClient connections",
    open) is about the pools; for the client itself no ticket was found: Django would need
    get_client() to keep the client it builds. Private API used: `_get_connection_pool`,
    `_client` (Django 5.2.19).
    Kept for: bench/README.md, second pass, fix 1: in-process CPU per sign-in 18.2 → 15.3 ms
    (−16 %).
    Test: tests/core/test_compat.py::test_the_redis_cache_builds_one_client_for_all_its_calls.
    """

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
    """Django's Redis cache backend with the client above (CACHES BACKEND in production)."""

    @cached_property
    def _cache(self):
        return ReusedClientRedisCacheClient(self._servers, **self._options)


def redis_client(cache):
    """The redis-py client behind a Django Redis cache (ours or Django's own), for commands the
    cache API has no word for (sorted sets, scripts); None for any other cache backend.

    Django has no public accessor: `cache._cache` is its RedisCacheClient (Django 5.2.19).
    Test: tests/core/test_compat.py::test_a_sign_in_is_counted_in_the_redis_sliding_windows.
    """
    if not isinstance(cache, DjangoRedisCache):
        return None
    return cache._cache.get_client(write=True)


# --- Sessions: in the database, the cache in front, fewer round trips --------------------------

class _TolerantCache:
    """The session store's cache, where a failure is a miss (read the database) or a skipped
    write, so nobody is signed out by a Redis outage. Only a failed delete is logged as an error:
    a stale cached copy of a deleted session would keep it alive."""

    def __init__(self, cache):
        self._cache = cache

    def get(self, key, default=None):
        try:
            return self._cache.get(key, default)
        except Exception:  # noqa: BLE001 - any cache failure is a miss
            log.warning("session cache unavailable; reading the database")
            return default

    def set(self, *args, **kwargs):
        try:
            return self._cache.set(*args, **kwargs)
        except Exception:  # noqa: BLE001 - the database copy is the one that counts
            log.warning("session cache unavailable; not cached")

    def __contains__(self, key):
        try:
            return key in self._cache
        except Exception:  # noqa: BLE001 - unknown; the database answers exists()
            return False

    def __getattr__(self, name):
        return getattr(self._cache, name)

    def delete(self, key):
        try:
            return self._cache.delete(key)
        except Exception:  # noqa: BLE001
            log.error("session cache unavailable; could not delete %s", key[:12])


class SessionStore(CachedDBStore):
    """Django's cached_db session store (SESSION_ENGINE = "core.compat.django"), changed in two
    ways that need its internals (Django 5.2.19: `_cache`, `_get_new_session_key`,
    `_get_session`, `_session`, `_session_key`, `_session_cache`):

    - It survives a cache outage (_TolerantCache). Django 5.1+ catches a cache failure in save()
      only; load()'s write-back after a database read, exists() and delete() still raise, which
      signs everybody out while Redis is down. No upstream ticket found: Django would need
      cached_db to treat every cache failure as a miss.
      Test: tests/core/test_compat.py::test_a_session_is_read_from_the_database_while_the_cache_is_down
      (and tests/portal/test_faults_redis.py with a real Redis stopped).
    - A sign-in writes its session once: no look-up of a new key, no BEGIN/COMMIT around a lone
      statement, a cycled key inserted by the response's save instead of at once and again.
      No upstream ticket found: Django would need SessionBase to skip exists() for a freshly
      drawn key and cycle_key() to leave the write to the next save.
      Kept for: bench/README.md, second pass, fix 4: session round trips at sign-in 6 → 1.
      Test: tests/core/test_compat.py::test_a_sign_in_writes_its_session_once.
    """

    # Set by cycle_key: the new key has no row yet, so the next save inserts it.
    _insert_pending = False

    def __init__(self, session_key=None):
        super().__init__(session_key)
        self._cache = _TolerantCache(self._cache)

    def _get_new_session_key(self):
        # Django first asks whether a new random key exists (a cache round trip and a SELECT at
        # every sign-in). 32 random characters do not collide in practice, and if one did, the
        # INSERT of save(must_create=True) would fail on the primary key and create() would draw
        # another key: the look-up buys nothing.
        return get_random_string(32, VALID_KEY_CHARS)

    def save(self, must_create=False):
        """Django's save without its transaction around the one INSERT or UPDATE.

        Django opens a transaction so that a failed INSERT cannot break a transaction around
        it; outside one (every request here: no ATOMIC_REQUESTS) the statement is atomic by
        itself, and BEGIN and COMMIT were two more database round trips at each save. Inside a
        transaction, Django's own save runs.
        """
        if self.session_key is None:
            return self.create()
        if self._insert_pending:
            must_create = True
        using = router.db_for_write(self.model)
        if transaction.get_connection(using).in_atomic_block:
            super().save(must_create)
            self._insert_pending = False
            return
        data = self._get_session(no_load=must_create)
        obj = self.create_model_instance(data)
        try:
            obj.save(force_insert=must_create, force_update=not must_create, using=using)
        except IntegrityError:
            if must_create:
                raise CreateError from None
            raise
        except DatabaseError:
            if not must_create:
                raise UpdateError from None
            raise
        self._insert_pending = False
        self._cache.set(self.cache_key, self._session, self.get_expiry_age())

    def cycle_key(self):
        """A new key for the same data (at sign-in and step-up), written once.

        Django inserts the new key's row at once and the response then updates it: two writes
        (and two cache writes) per sign-in. Keys do not collide (above), so the row can wait for
        the response's save, which inserts it; the old row goes now, as in Django.
        """
        data = self._session
        old_key = self.session_key
        # A key cycled before in this request was never written: nothing to delete.
        old_key_stored = old_key and not self._insert_pending
        self._session_key = self._get_new_session_key()
        self._session_cache = data
        self._insert_pending = True
        self.modified = True
        if old_key_stored:
            self.delete(old_key)


# --- System checks -----------------------------------------------------------------------------

def replace_system_check(registered, replacement):
    """Run `replacement` where Django would run the registered check function `registered`.

    Django's check framework can silence a finding only by its id (SILENCED_SYSTEM_CHECKS), and
    has no way to unregister a check: `registry.registered_checks` is its internal set (Django
    5.2.19). Upstream: Django ticket #26472 / django/django#15314 ("silence_checks()", closed
    unmerged) was the way to silence findings without an id. Returns False (and changes
    nothing) when `registered` is not registered.
    Test: tests/core/test_compat.py::test_the_check_command_runs_allauths_check_less_one_finding.
    """
    if registered not in registry.registered_checks:
        return False
    registry.registered_checks.discard(registered)
    checks.register(replacement)
    return True
