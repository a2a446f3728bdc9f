"""An attacker who knows a victim's password and security answers (the weakest method: guessable,
often public) tries to make the answers count as the second factor, on two real web nodes.

Security questions are not a django-otp device (recovery.models.SecurityQuestionsDevice), so no
code path can turn them into a verified session: not the sign-in code step, not the step-up page,
not the reset. Unit tests: tests/recovery/test_questions_device.py.
"""

from recovery import services
from tests.support.clients import PASSWORD
from tests.support.reset import METHOD, NEW, NEW_PASSWORD, RESET, VERIFY, Page

from .conftest import NEEDS_TWO_NODES

pytestmark = NEEDS_TWO_NODES

ANSWERS = ["Tokyo", "Mochi Cat", "Blue Whale"]
CODE_STEP = "/accounts/login/code/"
STEP_UP = "/accounts/verify/"


def victim_with_questions_and_app(make_user, bank, tenant, email, **fields):
    user = make_user(tenant, email, **fields)
    bank = bank[:3]
    services.register_security_questions(user, dict(zip(bank, ANSWERS, strict=True)))
    services.confirm_authenticator(services.start_authenticator_setup(user))
    answer_of = {text: a for q, a in zip(bank, ANSWERS, strict=True) for text in (q.text_ja, q.text_en)}
    return user, answer_of


def codes_an_attacker_tries(user):
    """The answers and the questions' ids, in every shape a code field might take them."""
    device = services.questions_device(user)
    ids = [str(a.question_id) for a in device.answers.all()]
    return [*ANSWERS, " ".join(ANSWERS), "".join(ANSWERS), *ids, "".join(ids).zfill(6)[:6],
            f"{device.pk:06d}", "123456"]


def is_verified_somewhere(browser, nodes):
    """Whether either node lets this browser into the admin (which needs a verified session)."""
    return any(browser.get(node, "/admin/").status_code == 200 for node in nodes)


def test_password_and_security_answers_never_pass_for_the_second_factor(
    two_nodes, browser_for, make_tenant, make_user, bank
):
    tenant = make_tenant("mfa", mfa_required=True, nudge_enabled=False)
    staff, staff_answers = victim_with_questions_and_app(
        make_user, bank, tenant, "boss@mfa.example", is_staff=True
    )
    employee, answers = victim_with_questions_and_app(make_user, bank, tenant, "ken@mfa.example")
    first, second = two_nodes

    # The sign-in's code step, on one node then the other, with every shape of the answers.
    attacker = browser_for("mfa.localhost")
    assert attacker.sign_in(first, staff.email, PASSWORD).headers["Location"] == CODE_STEP
    for node, code in zip([first, second] * 10, codes_an_attacker_tries(staff), strict=False):
        refused = attacker.post(node, CODE_STEP, {"code": code})
        assert refused.status_code == 200, code
    assert not is_verified_somewhere(attacker, two_nodes)

    # The reset: the answers pass, but staff also need the app; nothing is verified meanwhile.
    reset = browser_for("mfa.localhost")
    reset.post(second, RESET, {"email": staff.email})
    reset.post(first, METHOD, {"method": "questions"})
    page = Page(reset.get(second, VERIFY))
    data = {key.removeprefix("id_"): staff_answers[q] for key, q in page.labels.items()
            if key and key.startswith("id_answer_")}
    assert reset.post(first, VERIFY, data).headers["Location"] == VERIFY
    assert "code" in Page(reset.get(second, VERIFY)).fields  # the app is still asked for
    assert reset.get(first, NEW_PASSWORD).headers["Location"] == RESET
    assert not is_verified_somewhere(reset, two_nodes)

    # An employee resets with the answers alone; the new password still needs the code.
    reset = browser_for("mfa.localhost")
    reset.post(first, RESET, {"email": employee.email})
    reset.post(second, METHOD, {"method": "questions"})
    page = Page(reset.get(first, VERIFY))
    data = {key.removeprefix("id_"): answers[q] for key, q in page.labels.items()
            if key and key.startswith("id_answer_")}
    assert reset.post(second, VERIFY, data).headers["Location"] == VERIFY
    done = reset.post(first, NEW_PASSWORD, {"new_password1": NEW, "new_password2": NEW})
    assert done.status_code == 302
    attacker = browser_for("mfa.localhost")
    assert attacker.sign_in(second, employee.email, NEW).headers["Location"] == CODE_STEP
    for node in two_nodes:
        assert attacker.get(node, "/").status_code == 302  # not signed in without the code
        assert attacker.get(node, STEP_UP).status_code == 302
