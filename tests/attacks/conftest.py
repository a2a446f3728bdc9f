"""The attack suite: each defence tried the way an attacker would, with its variants.

Tests that need the deployed shape (two gunicorn web nodes on one PostgreSQL and one Redis,
as in production) take the `two_nodes` fixture; they are marked to skip only on the SQLite
smoke run, never on the full run (the test command always sets DATABASE_URL and REDIS_URL).
"""

import pytest

from tests.support.faults import Browser

NEEDS_TWO_NODES = [
    pytest.mark.django_db(transaction=True), pytest.mark.slow, pytest.mark.postgres,
    pytest.mark.redis,
]


@pytest.fixture
def browser_for():
    """browser_for("demo.localhost") → an HTTP client with one cookie jar for every node."""
    return Browser
