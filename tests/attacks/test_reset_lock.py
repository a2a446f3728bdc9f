"""The reset lock against an attacker with two web nodes: parallel guesses, a restarted Redis.

Every guess sent at the same moment must be counted before any secret is compared, so no more
than the policy's number of checks ever happen; the lock lives in the database, so restarting
the cache forgets nothing.
"""

import threading
from concurrent.futures import ThreadPoolExecutor

import pyotp
import pytest
from django.conf import settings as django_settings
from django.db import connections
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.otp import Result, verify_totp
from audit.models import AuditEvent
from recovery import reset, services
from recovery.models import SecurityQuestionsDevice
from tenants.scoping import tenant_scope
from tests.support.clients import PASSWORD
from tests.support.faults import Browser, PortalNode, PrivateRedis, database_url_for
from tests.support.reset import METHOD, RESET, VERIFY, Page, register_app, register_questions

from .conftest import NEEDS_TWO_NODES

# These tests are about the lock: the web nodes run without django-otp's back-off between
# tries (documented factor 0), which would refuse parallel guesses with "wait" before they are
# counted; tests/recovery/test_throttling_dos.py tests the back-off.
NO_BACK_OFF = pytest.mark.node_env(OTP_TOTP_THROTTLE_FACTOR="0", OTP_SECURITY_QUESTIONS_THROTTLE_FACTOR="0")
pytestmark = [*NEEDS_TWO_NODES, NO_BACK_OFF]
HOST = "demo.localhost"
LOCKED = "Password reset is locked"
WRONG_CODE_TEXT = "The code is not correct"
WRONG_ANSWERS_TEXT = "The answers are not correct"


def start_reset(browser, node, email, method):
    """Steps 1 and 2 on a node; the verify page as the browser sees it."""
    for path, data in ((RESET, {"email": email}), (METHOD, {"method": method})):
        response = browser.post(node, path, data)
        assert response.status_code == 302, (path, response.status_code)
    page = browser.get(node, VERIFY)
    assert page.status_code == 200, page.status_code
    return Page(page)


def answers_form(page, answer_of):
    """The verify page's answer fields filled from {question text: answer}."""
    data = {key.removeprefix("id_"): answer_of(question)
            for key, question in page.labels.items() if key and key.startswith("id_answer_")}
    assert len(data) == 3
    return data


def wrong_code(totp):
    return f"{(int(totp.now()) + 500_000) % 1_000_000:06d}"


def all_at_once(requests):
    """Send every request at the same moment (one thread each); the responses, in order."""
    barrier = threading.Barrier(len(requests))

    def send(request):
        barrier.wait()
        return request()

    with ThreadPoolExecutor(len(requests)) as pool:
        return list(pool.map(send, requests))


def checks_made():
    return AuditEvent.objects.filter(kind="reset.verify_failed").count()


@pytest.mark.parametrize("name", ["real", "unknown"])
def test_sixteen_parallel_wrong_codes_get_exactly_the_policys_checks(two_nodes, tenant, user, name):
    totp = register_app(user)
    email = user.email if name == "real" else "nobody@demo.example"
    threshold = tenant.policy.reset_lock_threshold
    assert threshold == 5
    browsers = [Browser(HOST) for _ in range(16)]
    node_of = {id(b): two_nodes[i % 2] for i, b in enumerate(browsers)}  # alternating nodes
    for browser in browsers:
        start_reset(browser, node_of[id(browser)], email, "authenticator")

    code = wrong_code(totp)
    responses = all_at_once([
        lambda b=browser: b.post(node_of[id(b)], VERIFY, {"code": code}) for browser in browsers
    ])
    statuses = sorted(r.status_code for r in responses)
    # Four say "wrong", the fifth check locks, and the other eleven were never checked.
    assert statuses == [200] * (threshold - 1) + [429] * (16 - threshold + 1), statuses
    assert sum(WRONG_CODE_TEXT in r.text for r in responses) == threshold - 1
    assert sum(LOCKED in r.text for r in responses) == 16 - threshold + 1
    assert checks_made() == threshold
    assert AuditEvent.objects.filter(kind="reset.locked", data={"scope": "account"}).count() == 1

    # The right code is refused now, on either node, and nothing more was checked.
    for browser, node in ((browsers[0], two_nodes[1]), (browsers[1], two_nodes[0])):
        refused = browser.post(node, VERIFY, {"code": totp.now()})
        assert refused.status_code == 429 and LOCKED in refused.text
    assert checks_made() == threshold
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


def test_four_concurrent_wrong_answers_count_four_towards_the_lock(two_nodes, tenant, user, bank):
    answer_of = register_questions(user, bank[:3])
    browsers = [Browser(HOST) for _ in range(4)]
    node_of = {id(b): two_nodes[i % 2] for i, b in enumerate(browsers)}
    pages = {id(b): start_reset(b, node_of[id(b)], user.email, "questions") for b in browsers}

    responses = all_at_once([
        lambda b=browser: b.post(node_of[id(b)], VERIFY, answers_form(pages[id(b)], lambda q: "not it"))
        for browser in browsers
    ])
    assert [r.status_code for r in responses] == [200] * 4
    assert all(WRONG_ANSWERS_TEXT in r.text for r in responses)
    assert checks_made() == 4

    # One try was left: the next wrong answer locks, and then the right answers are refused.
    browser = browsers[0]
    fifth = browser.post(two_nodes[1], VERIFY, answers_form(pages[id(browser)], lambda q: "still not"))
    assert fifth.status_code == 429 and LOCKED in fifth.text
    right = browser.post(two_nodes[0], VERIFY, answers_form(pages[id(browser)], answer_of.get))
    assert right.status_code == 429 and LOCKED in right.text
    assert checks_made() == 5


def _wrong_answers(device):
    return device.verify_answers({answer.question_id: "not it" for answer in device.answers.all()})


def _wrong_code(device):
    return verify_totp(device, wrong_code(pyotp.TOTP(services.authenticator_secret(device)))) is Result.OK


@pytest.mark.parametrize("method, device_model, guess", [
    ("questions", SecurityQuestionsDevice, _wrong_answers),
    ("authenticator", TOTPDevice, _wrong_code),
], ids=["questions", "authenticator"])
def test_four_concurrent_wrong_guesses_on_one_device_count_four(settings, user, bank, method, device_model, guess):
    """django-otp's failure count on the device row: four requests that each loaded the device
    and then guessed at the same moment must leave four failures, not one written four times."""
    # The back-off would refuse guesses 2-4 unchecked; its documented factor 0 turns it off, so
    # each of the four is compared and must be counted.
    settings.OTP_SECURITY_QUESTIONS_THROTTLE_FACTOR = 0
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    if method == "questions":
        register_questions(user, bank[:3])
    else:
        register_app(user)
    barrier = threading.Barrier(4)

    def request():
        try:
            with tenant_scope(user.tenant):  # a thread starts with no scope; a page has its host's
                device = device_model.objects.get(user=user)  # as a page loads it, before checking
                barrier.wait()
                return guess(device)
        finally:
            connections.close_all()  # this thread's own database connection

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: request(), range(4)))
    assert results == [False] * 4
    assert device_model.objects.get(user=user).throttling_failure_count == 4


def test_one_address_guessing_at_many_names_in_parallel_is_challenged_not_locked(two_nodes, tenant):
    # Every browser here is 127.0.0.1: 24 names, one guess each, all at once. No name reaches its
    # own limit; the address reaches its puzzle threshold after exactly that many checks, and
    # the other tries are refused unchecked until they carry a solved puzzle. Nothing is locked.
    threshold = tenant.policy.reset_challenge_threshold
    browsers = [Browser(HOST) for _ in range(threshold + 14)]
    node_of = {id(b): two_nodes[i % 2] for i, b in enumerate(browsers)}
    for i, browser in enumerate(browsers):
        start_reset(browser, node_of[id(browser)], f"guess{i}@demo.example", "authenticator")

    responses = all_at_once([
        lambda b=browser: b.post(node_of[id(b)], VERIFY, {"code": "000000"}) for browser in browsers
    ])
    assert [r.status_code for r in responses] == [200] * len(browsers)
    assert sum(WRONG_CODE_TEXT in r.text for r in responses) == threshold
    assert sum("Your answer was not checked yet" in r.text for r in responses) == 14
    assert checks_made() == threshold
    assert not AuditEvent.objects.filter(kind="reset.locked").exists()


@pytest.fixture
def private_redis():
    server = PrivateRedis().start()
    yield server
    server.stop()


def test_the_lock_survives_a_redis_restart_and_the_admin_can_lift_it(db, private_redis, tenant, user, make_user):
    totp = register_app(user)
    admin = make_user(tenant, "admin@demo.example", is_staff=True)
    env = {"DATABASE_URL": database_url_for(django_settings.DATABASES["default"]["NAME"]),
           "REDIS_URL": private_redis.url,
           "OTP_TOTP_THROTTLE_FACTOR": "0", "OTP_SECURITY_QUESTIONS_THROTTLE_FACTOR": "0"}
    nodes = [PortalNode(**env).start(), PortalNode(**env).start()]
    try:
        browser = Browser(HOST)
        start_reset(browser, nodes[0], user.email, "authenticator")
        statuses = [browser.post(nodes[i % 2], VERIFY, {"code": wrong_code(totp)}).status_code
                    for i in range(tenant.policy.reset_lock_threshold)]
        assert statuses == [200, 200, 200, 200, 429]

        # The cache comes back empty, as after a crash or a failover.
        private_redis.stop()
        private_redis.start()

        for node in nodes:
            refused = browser.post(node, VERIFY, {"code": totp.now()})
            assert refused.status_code == 429 and LOCKED in refused.text
            fresh = Browser(HOST)
            for path, data in ((RESET, {"email": user.email}), (METHOD, {"method": "authenticator"})):
                fresh.post(node, path, data)
            assert fresh.get(node, VERIFY).status_code == 429
        assert reset.reset_lock_state(user) is not None
        assert checks_made() == 5

        # What the admin's "Unlock password reset" does: the right code now passes.
        reset.unlock_reset(user, actor=admin)
        assert reset.reset_lock_state(user) is None
        passed = browser.post(nodes[1], VERIFY, {"code": totp.now()})
        assert passed.status_code == 302 and passed.headers["Location"] == VERIFY
    finally:
        for node in nodes:
            node.stop()
