"""Which authenticator codes sign in: one step either side of the server's (RFC 6238 §5.2),
never a step already used, and a window that stays where the clock is.

The server's clock is set through django-otp's t0 (the time the device counts its 30-s steps
from): each check runs 15 s into a step the test names, so no step change can fall between
making a code and checking it. Codes come from pyotp with the device's secret, as an app makes
them.
"""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pyotp
import pytest
from django_otp.plugins.otp_totp.models import TOTPDevice

from recovery import services
from tests.support.clients import PASSWORD, client_for, sign_in
from tests.support.faults import Browser

from .conftest import NEEDS_TWO_NODES

CODE_PAGE = "/accounts/login/code/"
REFUSED = "The code is not correct, or it was already used"
START = 1000  # the step the server is in when each test starts


@pytest.fixture
def mfa_tenant(make_tenant):
    return make_tenant("mfa", "MFA Corp", mfa_required=True, nudge_enabled=False)


@pytest.fixture
def mfa_user(make_user, mfa_tenant):
    return make_user(mfa_tenant, "ken@mfa.example")


@pytest.fixture
def device(mfa_user):
    """The user's authenticator, registered as the security-info page registers it."""
    device = services.start_authenticator_setup(mfa_user)
    return services.confirm_authenticator(device)


class App:
    """The user's authenticator app and the server's clock, by step number."""

    def __init__(self, device):
        self.device = device
        self.totp = pyotp.TOTP(services.authenticator_secret(device))

    def server_in_step(self, step):
        """From now on (for the next 15 s) the server is halfway through `step`."""
        period = self.device.step
        TOTPDevice.objects.filter(pk=self.device.pk).update(t0=int(time.time()) - step * period - period // 2)

    def code(self, step):
        return self.totp.at(step * self.device.step)


def signs_in_with(user, code) -> bool:
    """Password, then the code; True when the code signed in, False when it was refused."""
    client = client_for(user.tenant, HTTP_ACCEPT_LANGUAGE="en")
    assert sign_in(client, user.email)["Location"] == CODE_PAGE
    response = client.post(CODE_PAGE, {"code": code})
    if response.status_code == 302:
        assert client.get("/").status_code == 200
        return True
    assert response.status_code == 200 and REFUSED in response.content.decode()
    assert client.get("/").status_code == 302  # not signed in
    return False


@pytest.mark.django_db
@pytest.mark.parametrize("offset", [-1, 0, 1], ids=["previous step", "this step", "next step"])
def test_codes_one_step_either_side_sign_in(mfa_user, device, offset):
    app = App(device)
    app.server_in_step(START)
    assert signs_in_with(mfa_user, app.code(START + offset))


@pytest.mark.django_db
@pytest.mark.parametrize("offset", [-2, 2], ids=["two steps back", "two steps ahead"])
def test_codes_two_steps_away_are_refused(mfa_user, device, offset):
    app = App(device)
    app.server_in_step(START)
    assert not signs_in_with(mfa_user, app.code(START + offset))


@pytest.mark.django_db
def test_a_code_one_step_ahead_does_not_move_the_window(mfa_user, device):
    app = App(device)
    app.server_in_step(START)
    assert signs_in_with(mfa_user, app.code(START + 1))  # the phone's clock runs a little fast
    # Later the code is typed just as it changes (the previous step): still one step away.
    app.server_in_step(START + 3)
    assert signs_in_with(mfa_user, app.code(START + 2))
    app.server_in_step(START + 5)
    assert signs_in_with(mfa_user, app.code(START + 5))
    # And the window did not grow forward: two steps ahead is still too far.
    app.server_in_step(START + 7)
    assert not signs_in_with(mfa_user, app.code(START + 9))


@pytest.mark.django_db
def test_two_codes_ahead_in_a_row_do_not_carry_the_window_away(mfa_user, device):
    app = App(device)
    app.server_in_step(START)
    assert signs_in_with(mfa_user, app.code(START + 1))
    app.server_in_step(START + 2)
    assert not signs_in_with(mfa_user, app.code(START + 4))  # two ahead of the server's clock
    TOTPDevice.objects.filter(pk=device.pk).update(throttling_failure_timestamp=None)  # its wait passed
    app.server_in_step(START + 4)
    assert signs_in_with(mfa_user, app.code(START + 4))


@pytest.mark.django_db
def test_a_used_code_is_refused_in_its_step_and_the_next(mfa_user, device):
    app = App(device)
    app.server_in_step(START)
    code = app.code(START)
    assert signs_in_with(mfa_user, code)
    assert not signs_in_with(mfa_user, code)
    TOTPDevice.objects.filter(pk=device.pk).update(throttling_failure_timestamp=None)
    # In the next step the used code is "the previous step", inside the window: still refused.
    app.server_in_step(START + 1)
    assert not signs_in_with(mfa_user, code)


def _with_two_node_marks(test):
    for mark in NEEDS_TWO_NODES:
        test = mark(test)
    return test


@_with_two_node_marks
def test_one_code_sent_to_both_nodes_at_once_signs_in_once(two_nodes, mfa_user, device):
    app = App(device)
    for step in (START, START + 1, START + 2):  # three tries at the race, each with a new code
        app.server_in_step(step)
        browsers = [Browser("mfa.localhost") for _ in two_nodes]
        for browser, node in zip(browsers, two_nodes, strict=True):
            assert browser.sign_in(node, mfa_user.email, PASSWORD).headers["Location"] == CODE_PAGE
        barrier = threading.Barrier(len(browsers))

        def send(pair, code=app.code(step)):
            browser, node = pair
            barrier.wait()
            return browser.post(node, CODE_PAGE, {"code": code})

        with ThreadPoolExecutor(len(browsers)) as pool:
            responses = list(pool.map(send, zip(browsers, two_nodes, strict=True)))
        assert sorted(r.status_code for r in responses) == [200, 302], step
        assert REFUSED in next(r.text for r in responses if r.status_code == 200)
        # The refused replay counted as a failure; its one-second back-off passes before the next.
        TOTPDevice.objects.filter(pk=device.pk).update(throttling_failure_timestamp=None)
