"""The reset's proof of work against an attacker with two web nodes and a restarted Redis.

A guesser who pays every puzzle still gets no more than the policy's checks on a name, whichever
node answers and whatever the cache forgot; a solution spent on one node is refused on the
other.
"""

import pytest
from django.conf import settings as django_settings

from audit.models import AuditEvent
from recovery import reset
from tests.support.faults import Browser, PortalNode, PrivateRedis, database_url_for
from tests.support.reset_flow import (
    METHOD,
    RESET,
    VERIFY,
    challenge_on,
    register_app,
    solve,
    wrong_code,
)

from .conftest import NEEDS_TWO_NODES

pytestmark = NEEDS_TWO_NODES
HOST = "demo.localhost"
NOT_CHECKED = "Your answer was not checked yet"
WRONG = "The code is not correct"
LOCKED = "Password reset is locked"


@pytest.fixture(autouse=True)
def fast_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", *settings.PASSWORD_HASHERS]


@pytest.fixture
def nodes_and_redis(db):
    redis = PrivateRedis().start()
    env = {
        "DATABASE_URL": database_url_for(django_settings.DATABASES["default"]["NAME"]),
        "REDIS_URL": redis.url,
        # Quick tries (no back-off between them) and puzzles a test solves in a millisecond.
        "OTP_TOTP_THROTTLE_FACTOR": "0", "RESET_CHALLENGE_MAX_NUMBER": "2000",
    }
    nodes = []
    try:
        nodes = [PortalNode(**env).start(), PortalNode(**env).start()]
        yield nodes, redis
    finally:
        for node in nodes:
            node.stop()
        redis.stop()


def start(browser, node, email):
    for path, data in ((RESET, {"email": email}), (METHOD, {"method": "authenticator"})):
        assert browser.post(node, path, data).status_code == 302
    return browser.get(node, VERIFY)


def checks_on(user=None):
    return AuditEvent.objects.filter(kind="reset.verify_failed", user=user).count()


def test_a_paying_guesser_gets_the_policys_checks_across_nodes_and_a_redis_restart(nodes_and_redis, tenant, user):
    nodes, redis = nodes_and_redis
    totp = register_app(user)
    threshold = tenant.policy.reset_lock_threshold
    # Ten failures from this address (every browser here is 127.0.0.1) on two unknown names.
    for i in range(2):
        noisy = Browser(HOST)
        start(noisy, nodes[i], f"guess{i}@demo.example")
        texts = [noisy.post(nodes[n % 2], VERIFY, {"code": "000000"}).text for n in range(5)]
        assert [WRONG in t for t in texts] == [True] * 4 + [False] and LOCKED in texts[-1]

    source = Browser(HOST)  # any verify page hands out puzzles
    start(source, nodes[1], "puzzle-source@demo.example")
    guesser = Browser(HOST)
    page = start(guesser, nodes[0], user.email)
    puzzle = challenge_on(page.text)
    assert puzzle is not None
    # Unpaid: refused unchecked on either node.
    assert NOT_CHECKED in guesser.post(nodes[1], VERIFY, {"code": wrong_code(totp)}).text
    statuses = []
    for n in range(threshold + 3):
        if n == 2:  # the cache comes back empty, as after a crash or a failover
            redis.stop()
            redis.start()
        paid = solve(puzzle)
        response = guesser.post(nodes[n % 2], VERIFY, {"code": wrong_code(totp), "altcha": paid})
        statuses.append((response.status_code, WRONG in response.text, LOCKED in response.text))
        if n == 0:
            # The same solution again, on the other node: spent.
            replayed = guesser.post(nodes[1], VERIFY, {"code": wrong_code(totp), "altcha": paid})
            assert NOT_CHECKED in replayed.text
        puzzle = challenge_on(response.text) or challenge_on(source.get(nodes[n % 2], VERIFY).text)
    assert statuses == [(200, True, False)] * (threshold - 1) + [(429, False, True)] * 4
    assert checks_on(user) == threshold
    assert reset.reset_lock_state(user) is not None

    # The owner, from the same address, meets the lock on the name (and only that name's).
    owner = Browser(HOST)
    assert start(owner, nodes[1], user.email).status_code == 429
    other = start(Browser(HOST), nodes[0], "someone.else@demo.example")
    assert other.status_code == 200 and challenge_on(other.text) is not None
