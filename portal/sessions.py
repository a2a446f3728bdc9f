"""Database sessions with the cache in front, that keep working when the cache is down.

Django's cached_db store raises when Redis is unreachable; here a cache failure is a cache miss
(read from the database) or a skipped cache write, so nobody is logged out by a Redis outage.
"""

import logging

from django.contrib.sessions.backends.base import VALID_KEY_CHARS, CreateError, UpdateError
from django.contrib.sessions.backends.cached_db import SessionStore as CachedDBStore
from django.db import DatabaseError, IntegrityError, router, transaction
from django.utils.crypto import get_random_string

log = logging.getLogger(__name__)


class _TolerantCache:
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
        # A stale cached copy of a deleted session would keep it alive: do not hide this one.
        try:
            return self._cache.delete(key)
        except Exception:  # noqa: BLE001
            log.error("session cache unavailable; could not delete %s", key[:12])


class SessionStore(CachedDBStore):
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
        itself, and BEGIN and COMMIT were two more database round trips at each save (two saves
        per sign-in, bench/README.md). Inside a transaction, Django's own save runs.
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
