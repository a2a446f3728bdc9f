from django import forms
from django.utils.translation import gettext_lazy as _

from . import audit
from .otp import OneTimeCodeInput, Result, code_format_error, verify_totp


class OTPCodeForm(forms.Form):
    """The 6-digit authenticator code, checked against one device."""

    code = forms.CharField(
        label=_("6-digit code"),
        max_length=12,
        help_text=_("The code changes every 30 seconds."),
        widget=OneTimeCodeInput(attrs={"autofocus": True}),
    )

    def __init__(self, *args, device, request, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.device, self.request, self.user = device, request, user

    def clean_code(self):
        malformed = code_format_error(self.cleaned_data["code"])
        if malformed:
            raise forms.ValidationError(malformed, code="format")
        result = verify_totp(self.device, self.cleaned_data["code"])
        if result is Result.OK:
            audit.record("otp.verified", request=self.request, user=self.user)
            return self.cleaned_data["code"]
        audit.record("otp.failed", request=self.request, user=self.user, reason=result.value)
        if result is Result.THROTTLED:
            raise forms.ValidationError(
                _("Too many wrong codes. Wait a few minutes, then try again."), code="throttled"
            )
        raise forms.ValidationError(
            _("The code is not correct, or it was already used. Enter the current code."),
            code="invalid",
        )
