"""Password rules on what a person sees, not on the code points typed.

Ten spaces, ten zero-width spaces or a right-to-left override in front of "password123" passed
Django's validators: they count and compare code points. Here every rule looks at the visible
form (NFKC, invisible characters dropped, white space collapsed): the length counts visible
characters, the common-password, digits-only and similarity checks see what a shoulder-surfer
would, passwords with invisible or control characters or only white space are refused, and so
are passwords containing the organisation's name, slug or host name. The stored hash is still of
the password as typed, so nobody's existing password changes meaning.

Every page that sets a password goes through these (AUTH_PASSWORD_VALIDATORS): the invitation,
the reset, and allauth's change page.
"""

import re
import unicodedata

from allauth.core import context
from django.conf import settings
from django.contrib.auth.password_validation import (
    CommonPasswordValidator,
    MinimumLengthValidator,
    NumericPasswordValidator,
    UserAttributeSimilarityValidator,
)
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

# Unicode's Default_Ignorable_Code_Point (DerivedCoreProperties.txt): characters that render as
# nothing, beside the format (Cf) and control (Cc) categories. Fillers such as U+3164 are letters
# (Lo) and would otherwise count as visible.
_DEFAULT_IGNORABLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e"
    "\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufff8"
    "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0000-\U000e0fff]"
)
# Control (tabs, line breaks), format (zero-width, direction marks) and lone surrogates.
_INVISIBLE_CATEGORIES = {"Cc", "Cf", "Cs"}
# Organisation names, slugs and host labels shorter than this are too common to refuse.
MIN_NAME_LENGTH = 3
# Names this long are looked for across the password's separators too (see contains()).
LONG_NAME_LENGTH = 8
# Host labels that name a service, not the organisation (login.acme.example: "acme" counts).
GENERIC_HOST_LABELS = {"www", "login", "signin", "sso", "auth", "id", "idp", "portal", "account",
                       "accounts", "my"}


def is_invisible(char: str) -> bool:
    return bool(_DEFAULT_IGNORABLE.match(char)) or unicodedata.category(char) in _INVISIBLE_CATEGORIES


def visible_form(password: str) -> str:
    """NFKC (full-width letters are letters), invisible characters dropped, runs of white space
    (any kind, ideographic too) made one space, trimmed."""
    text = unicodedata.normalize("NFKC", password or "")
    # A tab or line break shows as white space; the other invisible characters as nothing.
    text = "".join(char for char in text if char.isspace() or not is_invisible(char))
    return " ".join(text.split())


def _letters_and_digits(text: str) -> str:
    """For name matching: case, width, spaces and punctuation do not matter."""
    return "".join(char for char in visible_form(text).casefold() if char.isalnum())


def tenant_for(user):
    """The user's tenant, or (a user being created, an anonymous form) the request's one."""
    tenant = getattr(user, "tenant", None) if user is not None else None
    if tenant is None:
        request = context.request
        tenant = getattr(request, "tenant", None) if request is not None else None
    return tenant


class TenantMinimumLengthValidator(MinimumLengthValidator):
    """Django's length check on visible characters, raised to the tenant's minimum (policy)."""

    def __init__(self, min_length=8):
        super().__init__(min_length)

    def minimum_for(self, user) -> int:
        tenant = tenant_for(user)
        if tenant is None:
            return self.min_length
        return max(self.min_length, tenant.policy.min_password_length)

    def validate(self, password, user=None):
        minimum = self.minimum_for(user)
        if len(visible_form(password)) < minimum:
            raise ValidationError(
                ngettext(
                    "This password is too short. It must contain at least %(min_length)d character.",
                    "This password is too short. It must contain at least %(min_length)d characters.",
                    minimum,
                ),
                code="password_too_short",
                params={"min_length": minimum},
            )

    def get_help_text(self):
        # Django's text with the minimum this request's tenant enforces, not the default 8:
        # the invitation and reset pages list these help texts next to the field.
        minimum = self.minimum_for(None)
        return ngettext(
            "Your password must contain at least %(min_length)d character.",
            "Your password must contain at least %(min_length)d characters.",
            minimum,
        ) % {"min_length": minimum}


class VisibleCharactersValidator:
    """No invisible, direction-changing or control characters, and more than white space."""

    def validate(self, password, user=None):
        if any(is_invisible(char) for char in password or ""):
            raise ValidationError(
                _("This password contains invisible or control characters (such as zero-width "
                  "spaces, text-direction marks or tabs). Type it without them."),
                code="password_invisible_characters",
            )
        if password and not visible_form(password):
            raise ValidationError(
                _("This password is only spaces. Use letters, digits or symbols too."),
                code="password_only_spaces",
            )

    def get_help_text(self):
        return _("Your password can't contain invisible characters or be only spaces.")


class TenantNameValidator:
    """Not the organisation's name, slug or host name (the first thing an attacker tries)."""

    def names(self, tenant):
        candidates = [tenant.name, tenant.slug]
        base_labels = set(settings.PORTAL_BASE_DOMAIN.lower().split("."))
        for host in tenant.hosts.values_list("host", flat=True):
            labels = host.lower().split(".")[:-1]  # not the top-level domain
            candidates += [label for label in labels
                           if label not in base_labels and label not in GENERIC_HOST_LABELS]
        squashed = {_letters_and_digits(name) for name in candidates}
        return {name for name in squashed if len(name) >= MIN_NAME_LENGTH}

    def validate(self, password, user=None):
        tenant = tenant_for(user)
        if tenant is None:
            return
        if any(self.contains(password, name) for name in self.names(tenant)):
            raise ValidationError(
                _("This password contains the name of your organisation. Choose one that doesn't."),
                code="password_contains_organisation",
            )

    @staticmethod
    def contains(password, name) -> bool:
        """A short name counts only inside one word of the password: "demo" is in "Demo-2026"
        and "xdemo1", not in "Kaede-Momiji" (whose letters only run together across a hyphen).
        A long name (several words, "Demo Corporation") counts however it is split."""
        words = (_letters_and_digits(word) for word in re.split(r"[\W_]+", visible_form(password)))
        if any(name in word for word in words):
            return True
        return len(name) >= LONG_NAME_LENGTH and name in _letters_and_digits(password)

    def get_help_text(self):
        return _("Your password can't contain the name of your organisation.")


class VisibleFormMixin:
    """Django's own check, run on the visible form (and without spaces, where that is weaker)."""

    def validate(self, password, user=None):
        visible = visible_form(password)
        for form in dict.fromkeys((visible, visible.replace(" ", ""))):
            super().validate(form, user)


class CommonVisiblePasswordValidator(VisibleFormMixin, CommonPasswordValidator):
    pass


class NumericVisiblePasswordValidator(VisibleFormMixin, NumericPasswordValidator):
    pass


class UserAttributeSimilarityVisibleValidator(VisibleFormMixin, UserAttributeSimilarityValidator):
    pass
