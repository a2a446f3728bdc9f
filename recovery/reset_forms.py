"""Forms of the password reset wizard. Field names never depend on the account typed."""

import unicodedata

from django import forms
from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from accounts.otp import AuthenticatorCodeForm
from accounts.otp import RecoveryCodeForm as _RecoveryCodeForm

from . import reset, services
from .forms import AnswerInput

PASSWORD_MAX_LENGTH = 1024  # far beyond any real password; keeps hashing bounded


def reject_control_characters(value):
    if any(unicodedata.category(ch) == "Cc" for ch in value or ""):
        raise ValidationError(
            _("Remove the control characters (such as tabs or line breaks)."), code="control"
        )


class StartForm(forms.Form):
    email = forms.EmailField(
        label=_("Sign-in name (e-mail address)"),
        max_length=254,
        validators=[reject_control_characters],
        widget=forms.EmailInput(attrs={"autocomplete": "username", "autofocus": True}),
    )


class MethodForm(forms.Form):
    """One of the tenant's enabled methods; when the tenant requires two, two of them (none to
    pick when it enables exactly two)."""

    def __init__(self, tenant, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.offered = reset.methods_offered(tenant)
        self.required = reset.methods_required(tenant)
        self.requires_all = self.required >= len(self.offered) > 1
        choices = [(m, services.METHOD_LABELS[m]) for m in self.offered]
        if self.required == 1:
            self.fields["method"] = forms.ChoiceField(
                label=_("Choose a method"),
                choices=choices,
                widget=forms.RadioSelect,
                error_messages={"invalid_choice": _("Choose one of the methods shown.")},
            )
        elif not self.requires_all:
            self.fields["methods"] = forms.MultipleChoiceField(
                label=_("Choose %(count)d methods") % {"count": self.required},
                choices=choices,
                widget=forms.CheckboxSelectMultiple,
                error_messages={
                    "required": _("Choose %(count)d methods.") % {"count": self.required},
                    "invalid_choice": _("Choose one of the methods shown."),
                },
            )

    def clean_methods(self):
        chosen = self.cleaned_data["methods"]
        if len(set(chosen)) != self.required:
            raise ValidationError(_("Choose %(count)d methods.") % {"count": self.required}, code="count")
        return [m for m in self.offered if m in chosen]

    def chosen_methods(self):
        if self.requires_all:
            return list(self.offered)
        if self.required == 1:
            return [self.cleaned_data["method"]]
        return self.cleaned_data["methods"]


class AnswersForm(forms.Form):
    """One field per question asked, named by position (answer_1 …), never by question id."""

    def __init__(self, questions, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.questions = list(questions)
        for position, question in enumerate(self.questions, start=1):
            self.fields[f"answer_{position}"] = forms.CharField(
                label=question.text,
                max_length=services.ANSWER_MAX_LENGTH,
                validators=[reject_control_characters],
                widget=AnswerInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
            )

    def token(self):
        return {
            question.pk: self.cleaned_data[f"answer_{position}"]
            for position, question in enumerate(self.questions, start=1)
        }


class CodeForm(AuthenticatorCodeForm):
    def token(self):
        return self.cleaned_data["code"]


class RecoveryCodeForm(_RecoveryCodeForm):
    def token(self):
        return self.cleaned_data["code"]


def _minimum_length_for(user):
    """The tenant's minimum as the configured validator computes it (accounts.validators)."""
    for validator in password_validation.get_default_password_validators():
        if hasattr(validator, "minimum_for"):
            return validator.minimum_for(user)
    return None


def _new_password_field(label):
    return forms.CharField(
        label=label,
        strip=False,
        max_length=PASSWORD_MAX_LENGTH,
        validators=[reject_control_characters],
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )


class NewPasswordForm(forms.Form):
    new_password1 = _new_password_field(_("New password"))
    new_password2 = _new_password_field(_("New password (again)"))

    def __init__(self, user, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        minimum = _minimum_length_for(user)
        if minimum:
            self.fields["new_password1"].help_text = _(
                "At least %(count)d characters. Not a common password, not only digits, not "
                "like your name or e-mail address, and without your organisation's name."
            ) % {"count": minimum}

    def clean_new_password2(self):
        first = self.cleaned_data.get("new_password1")
        second = self.cleaned_data["new_password2"]
        if first and first != second:
            raise ValidationError(_("The two passwords do not match."), code="password_mismatch")
        password_validation.validate_password(second, self.user)
        return second
