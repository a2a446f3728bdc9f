"""What the tenant's policy asks of one user: the sign-in nudge and the registration form rules.

Pure decisions over the policy and the user's registration state; the stage, the views and the
tests call these and nothing else decides.
"""

from django.utils.translation import gettext_lazy as _

from . import services
from .services import ANSWER_MAX_LENGTH, ANSWER_MIN_LENGTH, AUTHENTICATOR, QUESTIONS, RECOVERY_CODES
from .status import MISSING_METHODS, NEEDS_RECONFIRM, registration_status

REGISTER = "register"  # fewer methods than the policy asks for
RECONFIRM = "reconfirm"  # the re-confirm interval has passed
MFA_AUTHENTICATOR = "mfa_authenticator"  # sign-in needs a code and the user has no app yet



def nudge_reason(user, tenant, status=None):
    """None, REGISTER, RECONFIRM or MFA_AUTHENTICATOR. One query (the policy comes with tenant).

    status: the user's recovery.status.RegistrationStatus, when the caller has it already.
    """
    # The user was looked up in the host's tenant scope (tenants.scoping): the tenant's own.
    if tenant is None or user is None:
        return None
    policy = tenant.policy
    status = status or registration_status(user)
    if policy.mfa_required and AUTHENTICATOR not in status.methods:
        return MFA_AUTHENTICATOR
    if not policy.nudge_enabled:
        return None
    if status.state in MISSING_METHODS:
        return REGISTER
    if status.state == NEEDS_RECONFIRM:
        return RECONFIRM
    return None


def skip_allowed(reason, policy) -> bool:
    # Sign-in MFA can't be skipped: without the app there is no code to sign in with.
    return reason in (REGISTER, RECONFIRM) and policy.skip_allowed


def methods_offered(reason, policy) -> list[str]:
    """The methods, the app first as Entra does: "別の方法を設定します" leads to the questions,
    then the recovery codes where the tenant enables them."""
    if reason == MFA_AUTHENTICATOR:
        return [AUTHENTICATOR]
    return [
        method for method in (AUTHENTICATOR, QUESTIONS, RECOVERY_CODES)
        if method in policy.enabled_methods
    ]


def removal_refused(policy, method):
    """Why the user may not remove this method themselves, or None."""
    if method == AUTHENTICATOR and policy is not None and policy.mfa_required:
        return _(
            "Your organisation requires the authenticator app at sign-in. "
            "Use “Change” to move it to a new phone instead."
        )
    return None


# --- The security-questions form ---------------------------------------------------------------

def answer_error(answer):
    """The message for an answer that breaks the length rule (after normalisation), or None."""
    length = len(services.normalise_answer(answer))
    if length == 0:
        return _("Type an answer.")
    if length < ANSWER_MIN_LENGTH:
        return _("An answer needs at least %(min)d characters.") % {"min": ANSWER_MIN_LENGTH}
    if length > ANSWER_MAX_LENGTH:
        return _("An answer can have at most %(max)d characters.") % {"max": ANSWER_MAX_LENGTH}
    return None


def question_answer_errors(pairs):
    """Errors for [(question_id, answer), …] as {(index, "question" | "answer"): message}.

    No question twice and no answer twice (compared normalised); answers 3–40 characters.
    The first use of a question or answer is fine; each repeat gets the message.
    """
    errors = {}
    seen_questions, seen_answers = set(), set()
    for index, (question_id, answer) in enumerate(pairs):
        if question_id is not None:
            if question_id in seen_questions:
                errors[index, "question"] = _("You chose this question already. Choose a different one.")
            seen_questions.add(question_id)
        message = answer_error(answer)
        if message:
            errors[index, "answer"] = message
            continue
        normalised = services.normalise_answer(answer)
        if normalised in seen_answers:
            errors[index, "answer"] = _("Use a different answer for each question.")
        seen_answers.add(normalised)
    return errors
