"""Two web nodes on one PostgreSQL and one Redis: either node serves any session, and the
sign-in rate limit counts the attempts made on both together.

The nodes are real gunicorn processes on the test database (committed data: transaction=True).
"""

import os

import pytest
from django.conf import settings
from django.core.cache import cache

from .conftest import PASSWORD
from .faults import Browser, PortalNode, database_url_for

pytestmark = [
    pytest.mark.django_db(transaction=True), pytest.mark.slow, pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.skipif(
        not os.environ.get("DATABASE_URL", "").startswith("postgres") or not os.environ.get("REDIS_URL"),
        reason="two nodes share PostgreSQL and Redis",
    ),
]
RATE_LIMITED = "Too many failed login attempts"


@pytest.fixture
def nodes(no_nudge, tenant, user):
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


def test_a_session_started_on_one_node_is_valid_on_the_other(nodes, user):
    first, second = nodes
    browser = Browser("demo.localhost")
    signed_in = browser.sign_in(first, user.email, PASSWORD)
    assert signed_in.status_code == 302, signed_in.text[:500]

    home = browser.get(second, "/")
    assert home.status_code == 200 and user.email in home.text

    # Signing out on the second node ends the session on the first as well.
    assert browser.post(second, "/accounts/logout/", {}).status_code == 302
    assert browser.get(first, "/").status_code == 302  # back to the sign-in page


def _wrong_attempts_until_limited(nodes, email, limit=20):
    """Post wrong passwords, taking turns over the nodes; return how many got through."""
    browser = Browser("demo.localhost")
    for attempt in range(limit):
        node = nodes[attempt % len(nodes)]
        response = browser.sign_in(node, email, f"wrong-password-{attempt}")
        assert response.status_code in (200, 429), response.status_code
        if response.status_code == 429 or RATE_LIMITED in response.text:
            return attempt
    raise AssertionError(f"{limit} wrong passwords and no rate limit")


def test_the_sign_in_rate_limit_counts_attempts_on_both_nodes_together(nodes, user):
    one_node = _wrong_attempts_until_limited(nodes[:1], user.email)
    cache.clear()  # the counters live in the shared Redis: start again from zero
    both_nodes = _wrong_attempts_until_limited(nodes, user.email)
    assert both_nodes == one_node <= 10

    # Limited on both nodes, even with the right password.
    for node in nodes:
        refused = Browser("demo.localhost").sign_in(node, user.email, PASSWORD)
        assert refused.status_code in (200, 429) and "sessionid" not in refused.cookies
