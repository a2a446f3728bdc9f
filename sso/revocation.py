"""What sso does when the user's access ends or the user signs out.

accounts (below sso) sends accounts.signals.access_ended in the transaction of a reset, a
password change, a deactivation or an admin's "require re-registration"; here, in that same
transaction, every token and code of the user is deleted (allauth.idp.oidc.models.Token: the
refresh token is then refused at the token endpoint, the access token at userinfo) and each
application the user used is owed a logout token (sso.backchannel).

A sign-out (allauth's, or RP-initiated logout, which ends in it) owes the same applications a
logout token; their tokens are left: the sign-out ends one browser's session, and a token may
have been issued to the user's session on another device.
"""

from django.contrib.auth.signals import user_logged_out
from django.db import transaction

from accounts.signals import access_ended

from . import backchannel


def end_tokens(sender, user, reason, **kwargs):
    from allauth.idp.oidc.models import Token

    # backchannel.record enters the user's tenant scope itself (tenants.scoping): this works in
    # whatever scope the sender runs.
    with transaction.atomic():
        backchannel.record(user, reason)  # first: it names the applications the tokens show
        Token.objects.filter(user=user).delete()


def tell_applications_of_sign_out(sender, request, user, **kwargs):
    if user is not None:
        backchannel.record(user, "signed_out")


def install():
    access_ended.connect(end_tokens, dispatch_uid="sso_end_tokens")
    user_logged_out.connect(tell_applications_of_sign_out, dispatch_uid="sso_backchannel_sign_out")
