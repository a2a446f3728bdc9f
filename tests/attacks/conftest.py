"""The attack suite: each defence tried the way an attacker would, with its variants.

Tests that need the deployed shape (two gunicorn web nodes on one PostgreSQL and one Redis,
as in production) take the `two_nodes` fixture; they are marked to skip only on the SQLite
smoke run, never on the full run (the test command always sets DATABASE_URL and REDIS_URL).
"""

import os

import pytest
from django.conf import settings

from ..faults import Browser, PortalNode, database_url_for

NEEDS_TWO_NODES = [
    pytest.mark.django_db(transaction=True), pytest.mark.slow, pytest.mark.postgres,
    pytest.mark.redis,
]


def _deployed_shape() -> bool:
    return os.environ.get("DATABASE_URL", "").startswith("postgres") and bool(os.environ.get("REDIS_URL"))


@pytest.fixture
def two_nodes(db):
    """Two real web nodes (gunicorn) on the test database and the test Redis."""
    if not _deployed_shape():
        pytest.fail("two_nodes needs DATABASE_URL (PostgreSQL) and REDIS_URL: mark the test "
                    "with NEEDS_TWO_NODES so the SQLite smoke run deselects it")
    env = {
        "DATABASE_URL": database_url_for(settings.DATABASES["default"]["NAME"]),
        "REDIS_URL": os.environ["REDIS_URL"],
    }
    started = []
    try:
        for _ in range(2):
            started.append(PortalNode(**env).start())
        yield started
    finally:
        for node in started:
            node.stop()


@pytest.fixture
def browser_for():
    """browser_for("demo.localhost") → an HTTP client with one cookie jar for every node."""
    return Browser
