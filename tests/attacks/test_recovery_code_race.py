"""A recovery code is single use even when it is sent to two web nodes at the same moment (a
stolen printout replayed in parallel with its owner, or a double submit)."""

import threading
from concurrent.futures import ThreadPoolExecutor

from recovery import services
from recovery.models import RecoveryCodeDevice
from tests.support.clients import PASSWORD
from tests.support.faults import Browser

from .conftest import NEEDS_TWO_NODES

CODE_PAGE = "/accounts/login/code/?use=recovery-code"
REFUSED = "The recovery code is not correct, or it was already used"


def _with_two_node_marks(test):
    for mark in NEEDS_TWO_NODES:
        test = mark(test)
    return test


@_with_two_node_marks
def test_one_recovery_code_sent_to_both_nodes_at_once_signs_in_once(two_nodes, make_tenant, make_user):
    tenant = make_tenant("mfa", "MFA Corp", mfa_required=True, nudge_enabled=False,
                         recovery_codes_enabled=True)
    user = make_user(tenant, "ken@mfa.example")
    services.confirm_authenticator(services.start_authenticator_setup(user))
    codes = services.generate_recovery_codes(user)
    for code in codes[:3]:  # three tries at the race, each with another code
        browsers = [Browser("mfa.localhost") for _ in two_nodes]
        for browser, node in zip(browsers, two_nodes, strict=True):
            assert browser.sign_in(node, user.email, PASSWORD).headers["Location"] == "/accounts/login/code/"
        barrier = threading.Barrier(len(browsers))

        def send(pair, code=code):
            browser, node = pair
            barrier.wait()
            return browser.post(node, CODE_PAGE, {"code": code})

        with ThreadPoolExecutor(len(browsers)) as pool:
            responses = list(pool.map(send, zip(browsers, two_nodes, strict=True)))
        assert sorted(r.status_code for r in responses) == [200, 302], code
        assert REFUSED in next(r.text for r in responses if r.status_code == 200)
        # The refused replay counted as a failure; its one-second back-off passes before the next.
        RecoveryCodeDevice.objects.filter(user=user).update(throttling_failure_timestamp=None)
    assert services.recovery_codes_left(user) == 7
