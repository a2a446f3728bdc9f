from django import forms
from django.utils.translation import gettext_lazy as _

import audit

from .otp import AuthenticatorCodeForm, Result, retry_at, seconds_until, verify_totp, wait_message


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
        if result is Result.THROTTLED:
            # Refused unchecked (back-off or cap): not "wrong", and it counted as no guess.
            until = retry_at(self.device)
            raise forms.ValidationError(wait_message(seconds_until(until) if until else 1), code="throttled")
        raise forms.ValidationError(
            _("The code is not correct, or it was already used. Enter the current code."),
            code="invalid",
        )
