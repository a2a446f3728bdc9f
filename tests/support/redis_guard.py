"""The tests' Redis database is theirs alone.

The suite empties its Redis database before every test (tests/conftest.py, Django's
cache.clear() is FLUSHDB). So that a mistyped REDIS_URL never empties an operator's cache,
sessions or Celery queue, the suite writes a marker key in the database it uses and, at start,
refuses a database that holds keys but not that marker.
"""

from urllib.parse import urlsplit, urlunsplit

import redis

MARKER_KEY = "portal-test-suite:this-database-belongs-to-the-tests"


class ForeignRedisDatabase(Exception):
    pass


def _shown(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{netloc}"))


def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=5)


def claim(url: str) -> None:
    """Make sure the database at url is the tests' own: empty (then marked) or already marked."""
    client = _client(url)
    try:
        try:
            marked = client.exists(MARKER_KEY)
        except redis.RedisError as exc:
            raise ForeignRedisDatabase(f"The tests' Redis {_shown(url)} does not answer: {exc}") from exc
        if marked:
            return
        keys = client.dbsize()
        if keys:
            db = client.connection_pool.connection_kwargs.get("db", 0)
            raise ForeignRedisDatabase(
                f"The tests' Redis database {_shown(url)} holds {keys} key(s) the tests did not "
                f"write (no {MARKER_KEY!r} key). The suite empties its Redis database before "
                f"every test, so it will not use this one. Point REDIS_URL (for `make test`: "
                f"REDIS_TEST_URL, default redis://127.0.0.1:6379/9) at an empty database of its "
                f"own; or, if you are sure these keys are disposable, empty it yourself "
                f"(redis-cli -n {db} FLUSHDB) and run the tests again."
            )
        client.set(MARKER_KEY, "1")
    finally:
        client.close()


class Marker:
    """Writes the marker again after the suite emptied the database (one connection pool)."""

    def __init__(self, url: str):
        self.client = _client(url) if url else None

    def mark(self) -> None:
        if self.client is None:
            return
        try:
            self.client.set(MARKER_KEY, "1")
        except redis.RedisError:  # fault tests may run with the cache down
            pass
