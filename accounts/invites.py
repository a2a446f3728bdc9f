"""Invitation links: a one-time token to set a first password on the user's tenant host."""

from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode


class InviteTokenGenerator(PasswordResetTokenGenerator):
    # Its own salt: a token made for another purpose is not an invitation. The hash covers the
    # password, so the token dies once a password is set. Valid for PASSWORD_RESET_TIMEOUT.
    key_salt = "accounts.invites.InviteTokenGenerator"


invite_tokens = InviteTokenGenerator()


def invite_path(user) -> str:
    uidb64 = urlsafe_base64_encode(force_bytes(user.pk))
    return reverse("accounts_invite", args=[uidb64, invite_tokens.make_token(user)])
