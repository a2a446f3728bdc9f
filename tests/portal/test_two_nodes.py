"""Two web nodes on one PostgreSQL and one Redis: either node serves any session, and the
sign-in rate limit and the reset lock count the attempts made on both together.

The nodes are real gunicorn processes on the test database (committed data: transaction=True).
"""


import pytest
from django.core.cache import cache

from recovery import reset
from tests.support.clients import PASSWORD
from tests.support.faults import Browser
from tests.support.reset import METHOD, RESET, VERIFY, Page, register_questions

pytestmark = [
    pytest.mark.django_db(transaction=True), pytest.mark.slow, pytest.mark.postgres,
    pytest.mark.redis,
]
RATE_LIMITED = "Too many failed sign-ins"


@pytest.fixture
def nodes(no_nudge, tenant, user, two_nodes):
    return two_nodes


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
        assert response.status_code == 200, response.status_code  # the form again, with a message
        if RATE_LIMITED in response.text:
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
        assert refused.status_code == 200 and RATE_LIMITED in refused.text
        assert "sessionid" not in refused.cookies


LOCKED = "Password reset is locked"


def _questions_on_the_verify_page(browser, node, email):
    """Start a reset with security questions on a node; the verify page as the browser sees it."""
    for path, data in ((RESET, {"email": email}), (METHOD, {"method": "questions"})):
        response = browser.post(node, path, data)
        assert response.status_code == 302, (path, response.status_code)
    page = browser.get(node, VERIFY)
    assert page.status_code == 200, page.status_code
    return Page(page)


def _answer(browser, node, page, answers_by_question):
    data = {key.removeprefix("id_"): answers_by_question[question]
            for key, question in page.labels.items() if key and key.startswith("id_answer_")}
    assert len(data) == 3
    return browser.post(node, VERIFY, data)


# Wrong answers come quickly here: the nodes run without django-otp's back-off (factor 0).
@pytest.mark.node_env(OTP_SECURITY_QUESTIONS_THROTTLE_FACTOR="0", OTP_TOTP_THROTTLE_FACTOR="0")
def test_the_reset_lock_counts_failures_on_both_nodes_together(nodes, tenant, user, bank):
    answers = register_questions(user, bank[:3])
    threshold = tenant.policy.reset_lock_threshold
    assert threshold == 5
    # Two browsers, each with its own cookie jar and wizard session, each on its own node.
    first, second = Browser("demo.localhost"), Browser("demo.localhost")
    pages = {
        id(first): _questions_on_the_verify_page(first, nodes[0], user.email),
        id(second): _questions_on_the_verify_page(second, nodes[1], user.email),
    }
    turns = [(first, nodes[0]), (second, nodes[1])]
    wrong = {question: "not the answer" for question in answers}
    statuses = []
    for failure in range(threshold):
        browser, node = turns[failure % 2]
        response = _answer(browser, node, pages[id(browser)], wrong)
        statuses.append(response.status_code)
        assert (LOCKED in response.text) == (failure == threshold - 1), failure
    # Alone, neither node saw more than three failures: only the shared count reaches five.
    assert statuses == [200] * (threshold - 1) + [429]

    # The right answers are refused now, on either node, in the browsers that failed...
    for browser, node in ((first, nodes[1]), (second, nodes[0])):
        refused = _answer(browser, node, pages[id(browser)], answers)
        assert refused.status_code == 429 and LOCKED in refused.text
        assert refused.headers.get("Location") is None
    # ...and in a fresh browser starting over on either node.
    for node in nodes:
        fresh = Browser("demo.localhost")
        for path, data in ((RESET, {"email": user.email}), (METHOD, {"method": "questions"})):
            fresh.post(node, path, data)
        locked = fresh.get(node, VERIFY)
        assert locked.status_code == 429 and LOCKED in locked.text
    assert reset.reset_lock_state(user) is not None
    user.refresh_from_db()
    assert user.check_password(PASSWORD)
