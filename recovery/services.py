"""Rules for registering and verifying recovery methods.

Views, the admin, tasks and tests all call these; nothing else writes recovery methods.
"""

import base64
import functools
import secrets
import unicodedata

from django.contrib.auth.hashers import check_password, make_password
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_otp.plugins.otp_totp.models import TOTPDevice

import audit
from accounts.usersessions import end_access
from tenants.scoping import tenant_scope

from . import app_settings, notifications
from .models import (
    RecoveryCode,
    RecoveryCodeDevice,
    RecoveryProfile,
    SecurityAnswer,
    SecurityQuestion,
    SecurityQuestionsDevice,
    recovery_code_digest,
)

QUESTIONS = "questions"
AUTHENTICATOR = "authenticator"
RECOVERY_CODES = "recovery_codes"
# What every page, e-mail, report and export calls the methods.
METHOD_LABELS = {
    QUESTIONS: _("Security questions"),
    AUTHENTICATOR: _("Authenticator app"),
    RECOVERY_CODES: _("Recovery codes"),
}
# Methods that are "something you have": the authenticator app and the recovery codes. Staff
# never reset without one (recovery.reset.methods_needed).
POSSESSION_METHODS = (AUTHENTICATOR, RECOVERY_CODES)
ANSWER_MIN_LENGTH = 3
ANSWER_MAX_LENGTH = 40
# Compared against when there is no stored hash, so a miss costs what a real check costs.
@functools.cache
def _dummy_answer_hash() -> str:
    # Made on first use, not at import: one Argon2 hash costs every starting worker 80 ms.
    return make_password("not-a-real-answer")


# --- Security questions ---------------------------------------------------------------------

def normalise_answer(answer: str) -> str:
    """NFKC (full-width ｔｏｋｙｏ → tokyo), case-folded, white space trimmed and collapsed."""
    text = unicodedata.normalize("NFKC", answer or "")
    return " ".join(text.casefold().split())


def questions_offered(tenant):
    """The built-in bank plus the tenant's own active questions."""
    with tenant_scope(tenant):  # the tenant's own and the shared bank (tenants.scoping)
        questions = SecurityQuestion.objects.filter(is_active=True)
    return questions.order_by("tenant_id", "position", "id")


@transaction.atomic
def register_security_questions(user, answers, *, request=None):
    """Replace the user's questions with {SecurityQuestion: answer}, answers already validated.

    Answers are stored as salted slow hashes of their normalised form only.
    """
    SecurityQuestionsDevice.objects.filter(user=user).delete()
    device = SecurityQuestionsDevice.objects.create(
        user=user, name="Security questions", confirmed=True
    )
    SecurityAnswer.objects.bulk_create(
        SecurityAnswer(device=device, question=question, answer_hash=make_password(normalise_answer(text)))
        for question, text in answers.items()
    )
    mark_methods_confirmed(user)
    audit.record("method.registered", request=request, user=user, method=QUESTIONS)
    return device


def check_device_answers(device, answers) -> bool:
    """True when every {question_id: answer} matches the device's stored answer.

    Every given answer is hashed even after a miss, so timing does not tell which one was wrong.
    """
    if not answers:
        return False
    stored = {a.question_id: a.answer_hash for a in device.answers.all()}
    all_match = True
    for question_id, answer in answers.items():
        try:
            key = int(question_id)
        except (TypeError, ValueError):
            key = None
        answer_hash = stored.get(key)
        matched = check_password(normalise_answer(answer), answer_hash or _dummy_answer_hash())
        all_match = all_match and matched and answer_hash is not None
    return all_match


def hash_dummy_answers(count: int) -> None:
    """Spend the time of `count` answer checks (decoy flows for unknown accounts)."""
    for _check in range(count):
        check_password("decoy", _dummy_answer_hash())


def questions_device(user):
    return SecurityQuestionsDevice.objects.filter(user=user, confirmed=True).first()


def verify_answers(user, answers) -> bool:
    """Check {question_id: answer} for user, through the device's throttled verify_answers()."""
    device = questions_device(user)
    if device is None:
        hash_dummy_answers(len(answers) or 1)
        return False
    return device.verify_answers(answers)


# --- Authenticator app (TOTP) ---------------------------------------------------------------

def totp_issuer(device):
    """OTP_TOTP_ISSUER: the authenticator app shows the user's organisation."""
    tenant = getattr(device.user, "tenant", None)
    return tenant.name if tenant is not None else "Identity portal"


def start_authenticator_setup(user) -> TOTPDevice:
    """A new unconfirmed device with a fresh secret; any earlier unfinished setup is dropped."""
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    return TOTPDevice.objects.create(
        user=user, name="Authenticator app", confirmed=False, digits=6, step=30, tolerance=1
    )


def authenticator_secret(device) -> str:
    """The base32 secret the user types into the app by hand."""
    return base64.b32encode(device.bin_key).decode("ascii").rstrip("=")


def authenticator_uri(device) -> str:
    """otpauth://totp/<issuer>:<account>?secret=…&issuer=…&algorithm=SHA1&digits=6&period=30"""
    return device.config_url


def verify_authenticator_code(device, code) -> bool:
    """The one check of an authenticator code for recovery flows: accounts.otp.verify_totp
    (django-otp's TOTP window and replay guard, with the capped guessing throttle).
    """
    from accounts.otp import Result, verify_totp

    return verify_totp(device, code) is Result.OK


def pending_authenticator(user, device_id):
    """The user's own unfinished setup with this id, or None (expired, replaced or not theirs)."""
    if not device_id:
        return None
    return TOTPDevice.objects.filter(pk=device_id, user=user, confirmed=False).first()


@transaction.atomic
def confirm_authenticator(device, *, request=None) -> TOTPDevice:
    """Make a device whose code was just verified the user's one authenticator."""
    TOTPDevice.objects.filter(user=device.user, confirmed=True).exclude(pk=device.pk).delete()
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    mark_methods_confirmed(device.user)
    audit.record("method.registered", request=request, user=device.user, method=AUTHENTICATOR)
    return device


# --- Recovery codes (NIST SP 800-63B look-up secrets) ---------------------------------------

def recovery_codes_device(user):
    return RecoveryCodeDevice.objects.filter(user=user, confirmed=True).first()


def recovery_codes_left(user) -> int:
    return RecoveryCode.objects.filter(device__user=user, device__confirmed=True).count()


def _new_code() -> str:
    from accounts.otp import RECOVERY_CODE_ALPHABET, RECOVERY_CODE_LENGTH

    return "".join(secrets.choice(RECOVERY_CODE_ALPHABET) for _i in range(RECOVERY_CODE_LENGTH))


@transaction.atomic
def generate_recovery_codes(user, *, request=None) -> list[str]:
    """A new set of single-use codes for the user; any earlier set stops working.

    Returns the codes, formatted for reading (abcd-efgh-2345): the only time they exist in
    clear. Only their keyed digests are stored (recovery.models.recovery_code_digest).
    """
    from accounts.otp import format_recovery_code

    regenerated = RecoveryCodeDevice.objects.filter(user=user).exists()
    RecoveryCodeDevice.objects.filter(user=user).delete()
    device = RecoveryCodeDevice.objects.create(user=user, name="Recovery codes", confirmed=True)
    codes = set()
    while len(codes) < app_settings.RECOVERY_CODES_COUNT:
        codes.add(_new_code())
    codes = sorted(codes)
    RecoveryCode.objects.bulk_create(
        RecoveryCode(device=device, digest=recovery_code_digest(user.pk, code)) for code in codes
    )
    mark_methods_confirmed(user)
    audit.record(
        "method.registered", request=request, user=user, method=RECOVERY_CODES,
        regenerated=regenerated,
    )
    notifications.recovery_codes_generated(user, regenerated=regenerated)
    return [format_recovery_code(code) for code in codes]


def recovery_codes_running_low(left) -> bool:
    return left <= app_settings.RECOVERY_CODES_LOW


def verify_recovery_code(user, code) -> bool:
    """The one check of a recovery code for recovery flows: accounts.otp.verify_lookup_secret
    (the device's verify_token: single use, the capped guessing throttle).

    user None (a decoy) runs the same device query and computes a digest, finding nothing.
    """
    from accounts.otp import Result

    return check_recovery_code(user, code) is Result.OK


def check_recovery_code(user, code):
    """verify_recovery_code's check, with its accounts.otp.Result (THROTTLED: refused unchecked,
    so the reset says "wait" and counts no try)."""
    from accounts.otp import Result, normalise_recovery_code, verify_lookup_secret

    device = recovery_codes_device(user)
    if device is None:
        recovery_code_digest(0, normalise_recovery_code(code))
        return Result.INVALID
    return verify_lookup_secret(device, code)


# --- Registration state ---------------------------------------------------------------------

def profile_for(user) -> RecoveryProfile:
    profile, _created = RecoveryProfile.objects.get_or_create(user=user)
    return profile


def update_profile(user, **fields):
    """Set fields of the user's RecoveryProfile, creating it if needed: one upsert statement.

    update_or_create took six round trips (a transaction, SELECT FOR UPDATE, a savepoint and the
    INSERT); the nudge shown at every sign-in paid them (bench/README.md).
    """
    RecoveryProfile.objects.bulk_create(
        [RecoveryProfile(user=user, **fields)],
        update_conflicts=True, unique_fields=["user"], update_fields=list(fields),
    )


def mark_methods_confirmed(user):
    update_profile(user, methods_confirmed_at=timezone.now())


def reconfirm_methods(user, *, request=None):
    """The user says the registered methods are still current: the interval starts again."""
    mark_methods_confirmed(user)
    audit.record("methods.reconfirmed", request=request, user=user)


def record_nudge_shown(user, *, request=None, reason=None):
    update_profile(user, last_nudged_at=timezone.now())
    audit.record("nudge.shown", request=request, user=user, reason=reason)


@transaction.atomic
def record_skip(user, *, request=None):
    """The user skipped registration: count it, audit it, and ask for a reminder e-mail."""
    profile_for(user)
    RecoveryProfile.objects.filter(user=user).update(
        skip_count=F("skip_count") + 1, last_skipped_at=timezone.now()
    )
    audit.record("nudge.skipped", request=request, user=user)
    notifications.remind_to_register(user)


@transaction.atomic
def remove_method(user, method, *, request=None):
    if method == QUESTIONS:
        SecurityQuestionsDevice.objects.filter(user=user).delete()
    elif method == AUTHENTICATOR:
        TOTPDevice.objects.filter(user=user).delete()
    elif method == RECOVERY_CODES:
        RecoveryCodeDevice.objects.filter(user=user).delete()
    else:
        raise ValueError(method)
    audit.record("method.removed", request=request, user=user, method=method)


@transaction.atomic
def require_reregistration(user, *, actor=None, request=None):
    """Admin action: remove every method so the nudge asks for them again at the next sign-in."""
    SecurityQuestionsDevice.objects.filter(user=user).delete()
    TOTPDevice.objects.filter(user=user).delete()
    RecoveryCodeDevice.objects.filter(user=user).delete()
    RecoveryProfile.objects.filter(user=user).update(methods_confirmed_at=None)
    # The admin distrusts the account: whatever it holds now ends, and the user registers again
    # at the next sign-in.
    end_access(user, reason="reregistration_required")
    audit.record(
        "methods.cleared_by_admin", request=request, user=user,
        actor=actor.email if actor is not None else None,
    )
