"""The authenticator code (TOTP) and the recovery code: one place that decides whether a code
is accepted.

Every caller (sign-in step, step-up, registration, reset) goes through verify_totp() or
verify_lookup_secret(), so the guessing cap is defined once.
"""

import enum
import math
import unicodedata
from datetime import timedelta

from django import forms
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django_otp import devices_for_user
from django_otp.plugins.otp_totp.models import TOTPDevice

from . import app_settings


class OneTimeCodeInput(forms.TextInput):
    """The code field: a refused code is not written back into the page (shown once, typed once)."""

    def __init__(self, attrs=None):
        super().__init__({"autocomplete": "one-time-code", "inputmode": "numeric", **(attrs or {})})

    def format_value(self, value):
        return None


class AuthenticatorCodeForm(forms.Form):
    """The one form for the authenticator code: sign-in step, step-up, registration and reset.

    What cannot be a code gets code_format_error()'s message next to the field and never counts
    as a guess; the cleaned code is normalised. Subclasses add the check against a device.
    """

    code = forms.CharField(
        label=gettext_lazy("6-digit code"),
        help_text=gettext_lazy("The code changes every 30 seconds."),
        max_length=16,  # six digits with spaces, full-width or not
        required=False,  # an empty field gets code_format_error's message
        widget=OneTimeCodeInput(attrs={"autofocus": True, "size": 8}),
    )

    def clean_code(self):
        code = self.cleaned_data.get("code", "")
        malformed = code_format_error(code)
        if malformed:
            raise forms.ValidationError(malformed, code="format")
        return normalise_code(code)


class Result(enum.Enum):
    OK = "ok"
    INVALID = "invalid"
    THROTTLED = "throttled"


def authenticator_device(user):
    """The user's authenticator (their confirmed django-otp TOTP device), or None."""
    return TOTPDevice.objects.filter(user=user, confirmed=True).first()


def mfa_required(user, tenant) -> bool:
    """Whether sign-in asks for the authenticator code: the tenant's policy, or an admin."""
    policy = getattr(tenant, "policy", None) if tenant is not None else None
    return bool(user.is_staff or (policy is not None and policy.mfa_required))


def normalise_code(code) -> str:
    # People paste "123 456" or full-width digits from phones.
    return "".join(str(code or "").split()).translate(
        str.maketrans("０１２３４５６７８９", "0123456789")
    )


def code_format_error(code):
    """The message for what cannot be a code at all, or None. Every code form asks this first,
    so a typo is a message next to the field and never counts as a guess."""
    code = normalise_code(code)
    if not code:
        return _("Type the 6-digit code from the app.")
    if not (code.isascii() and code.isdigit()):
        return _("The code has digits only (0–9).")
    if len(code) != 6:
        return _("The code has exactly 6 digits.")
    return None


def _refused_by_throttle(device) -> bool:
    """True while the device may not be tried (retry_at). Failures older than
    TOTP_FAILURE_WINDOW are forgotten first, so a lock never outlasts the window: django-otp's
    doubling back-off alone would let anyone lock a user out for days. The caller holds the
    device's row lock."""
    last_failure = device.throttling_failure_timestamp
    if device.throttling_failure_count and last_failure and (
        timezone.now() - last_failure >= app_settings.TOTP_FAILURE_WINDOW
    ):
        device.throttle_reset(commit=True)
    return retry_at(device) is not None


def retry_at(device):
    """When the device will check a code again, or None when it would check one now.

    Two things make it refuse a code unchecked: the cap (TOTP_MAX_FAILURES within
    TOTP_FAILURE_WINDOW of the last failure) and django-otp's back-off after each wrong code,
    read through its documented verify_is_allowed() (reason N_FAILED_ATTEMPTS, locked_until).
    A refused code is no guess: the page says to wait, never that the code is wrong.
    """
    now = timezone.now()
    last_failure = device.throttling_failure_timestamp
    if device.throttling_failure_count >= app_settings.TOTP_MAX_FAILURES and (
            last_failure is None or now - last_failure < app_settings.TOTP_FAILURE_WINDOW):
        # Capped; with no time of the last failure, for a whole window from now.
        return (last_failure or now) + app_settings.TOTP_FAILURE_WINDOW
    return back_off_end(device)


def back_off_end(device):
    """When django-otp's back-off on a throttled device (any ThrottlingMixin) ends, or None."""
    allowed, details = device.verify_is_allowed()
    if allowed:
        return None
    return (details or {}).get("locked_until") or timezone.now() + timedelta(seconds=1)


def seconds_until(moment) -> int:
    """Whole seconds from now until `moment`, rounded up (at least 1)."""
    return max(1, math.ceil((moment - timezone.now()).total_seconds()))


def wait_message(seconds) -> str:
    """"Wait N seconds" for a code or answer refused unchecked: it was not counted as wrong."""
    if seconds < 120:
        return ngettext(
            "Please wait %(count)d second, then send it again. What you sent was not checked and does not count as a wrong try.",
            "Please wait %(count)d seconds, then send it again. What you sent was not checked and does not count as a wrong try.",
            seconds,
        ) % {"count": seconds}
    minutes = math.ceil(seconds / 60)
    return ngettext(
        "Please wait %(count)d minute, then send it again. What you sent was not checked and does not count as a wrong try.",
        "Please wait %(count)d minutes, then send it again. What you sent was not checked and does not count as a wrong try.",
        minutes,
    ) % {"count": minutes}


def verify_totp(device, code) -> Result:
    """Check a code against the device: replay refused, failures capped (app_settings.TOTP_MAX_FAILURES).

    Checks of one device take turns on its row (SELECT … FOR UPDATE), and `device` is reloaded
    under that lock: the failure count and the last used step are read and written by one check
    at a time, so parallel requests on any node can neither overwrite each other's failures nor
    both accept one code.
    """
    # No savepoint inside the caller's transaction (the reset's): nothing here is caught, and a
    # savepoint's two round trips would make a real account's check slower than a decoy's.
    with transaction.atomic(savepoint=False):
        device.refresh_from_db(from_queryset=type(device).objects.select_for_update())
        return _verify_locked_totp(device, code)


def _verify_locked_totp(device, code) -> Result:
    if _refused_by_throttle(device):
        return Result.THROTTLED
    code = normalise_code(code)
    if not (code.isdigit() and len(code) == device.digits):
        device.throttle_increment(commit=True)
        return Result.INVALID
    # verify_token refuses any step already used (replay) and counts failures itself.
    return Result.OK if device.verify_token(code) else Result.INVALID


# --- Recovery codes (NIST SP 800-63B look-up secrets) ---------------------------------------
# The codes are made by recovery (recovery.services.generate_recovery_codes) and checked by its
# django-otp Device (recovery.models.RecoveryCodeDevice); this layer knows them only through the
# Device API: devices whose class says `lookup_secret = True`.

# Crockford's base32: no I, L, O or U, so nothing reads as another character; 12 characters of
# it are 60 random bits.
RECOVERY_CODE_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
RECOVERY_CODE_LENGTH = 12
_READ_AS = str.maketrans({"o": "0", "i": "1", "l": "1"})


def normalise_recovery_code(code) -> str:
    """"ABCD-efgh 2345", full-width or not, is "abcdefgh2345"; O reads as 0, I and L as 1."""
    text = unicodedata.normalize("NFKC", str(code or "")).casefold()
    return "".join(ch for ch in text if ch not in " -\u2010\u2011\u2012\u2013\u2014\u30fc").translate(_READ_AS)


def format_recovery_code(code) -> str:
    """abcdefgh2345 → abcd-efgh-2345, as the codes are shown and printed."""
    return "-".join(code[i:i + 4] for i in range(0, len(code), 4))


def recovery_code_format_error(code):
    """The message for what cannot be a recovery code at all, or None (never counts as a guess)."""
    code = normalise_recovery_code(code)
    if not code:
        return _("Type one of your recovery codes.")
    if len(code) != RECOVERY_CODE_LENGTH or any(ch not in RECOVERY_CODE_ALPHABET for ch in code):
        return _("A recovery code has 12 letters and digits, such as abcd-efgh-2345.")
    return None


class RecoveryCodeForm(forms.Form):
    """One recovery code: the sign-in step (instead of the app's code) and the reset."""

    code = forms.CharField(
        label=gettext_lazy("Recovery code"),
        max_length=40,
        required=False,  # an empty field gets recovery_code_format_error's message
        widget=OneTimeCodeInput(attrs={
            "autofocus": True, "autocomplete": "off", "inputmode": "text",
            "autocapitalize": "off", "spellcheck": "false", "size": 16,
        }),
    )

    def clean_code(self):
        code = self.cleaned_data.get("code", "")
        malformed = recovery_code_format_error(code)
        if malformed:
            raise forms.ValidationError(malformed, code="format")
        return normalise_recovery_code(code)


def lookup_secret_devices(user, tenant) -> list:
    """The user's confirmed recovery-code devices (any installed django-otp Device class that
    declares lookup_secret = True), none while the user's tenant does not enable them."""
    policy = getattr(tenant, "policy", None) if tenant is not None else None
    if policy is None or not policy.recovery_codes_enabled or user.tenant_id != tenant.pk:
        return []
    return [
        device for device in devices_for_user(user, confirmed=True)
        if getattr(device, "lookup_secret", False)
    ]


def verify_lookup_secret(device, code) -> Result:
    """Check a recovery code against one device through its verify_token(): used codes are gone,
    failures capped as for the authenticator (one row lock per device, as verify_totp)."""
    with transaction.atomic(savepoint=False):
        device.refresh_from_db(from_queryset=type(device).objects.select_for_update())
        if _refused_by_throttle(device):
            return Result.THROTTLED
        return Result.OK if device.verify_token(normalise_recovery_code(code)) else Result.INVALID
