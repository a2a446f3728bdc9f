from allauth.account import forms as allauth_forms
from django import forms
from django.utils.translation import gettext_lazy as _

import audit

from .otp import (
    AuthenticatorCodeForm,
    RecoveryCodeForm,
    Result,
    retry_at,
    seconds_until,
    verify_lookup_secret,
    verify_totp,
    wait_message,
)


def _refusal(result, device):
    """A code refused unchecked (back-off or cap) is not "wrong" and counted as no guess: the
    form says how long to wait."""
    if result is Result.THROTTLED:
        until = retry_at(device) if device is not None else None
        return forms.ValidationError(wait_message(seconds_until(until) if until else 1), code="throttled")
    return None


class OTPCodeForm(AuthenticatorCodeForm):
    """The authenticator code, checked against one device (sign-in step and step-up)."""

    def __init__(self, *args, device, request, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.device, self.request, self.user = device, request, user

    def clean_code(self):
        code = super().clean_code()
        result = verify_totp(self.device, code)
        if result is Result.OK:
            audit.record("otp.verified", request=self.request, user=self.user)
            return code
        audit.record("otp.failed", request=self.request, user=self.user, reason=result.value)
        raise _refusal(result, self.device) or forms.ValidationError(
            _("The code is not correct, or it was already used. Enter the current code."),
            code="invalid",
        )


class OTPRecoveryCodeForm(RecoveryCodeForm):
    """A recovery code instead of the authenticator code (sign-in step and step-up), checked
    against the user's recovery-code devices; `device` is the one that accepted it."""

    def __init__(self, *args, devices, request, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.devices, self.request, self.user = devices, request, user
        self.device = None

    def clean_code(self):
        code = super().clean_code()
        result, tried = Result.INVALID, None
        for device in self.devices:
            tried = device
            result = verify_lookup_secret(device, code)
            if result is Result.OK:
                self.device = device
                audit.record("otp.verified", request=self.request, user=self.user, method="recovery_code")
                return code
        audit.record(
            "otp.failed", request=self.request, user=self.user, reason=result.value,
            method="recovery_code",
        )
        raise _refusal(result, tried) or forms.ValidationError(
            _("The recovery code is not correct, or it was already used. Try another of your codes."),
            code="invalid",
        )


class ChangePasswordForm(allauth_forms.ChangePasswordForm):
    """allauth's change-password form (ACCOUNT_FORMS) with the portal's labels, so the page says
    what the invitation and reset pages say, in our Japanese; the page is
    templates/account/password_change.html."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["oldpassword"].label = _("Current password")
        self.fields["oldpassword"].help_text = ""
        self.fields["password1"].label = _("New password")
        self.fields["password2"].label = _("New password (again)")


class ReauthenticateForm(allauth_forms.ReauthenticateForm):
    """allauth's "confirm it is you" form (ACCOUNT_FORMS) without its "forgot your password?"
    help: the reset is for signed-out users; the page is templates/account/reauthenticate.html."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["password"].help_text = ""
