from allauth.account.signals import password_changed, password_set
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

import audit

from .usersessions import end_sessions


@receiver(user_logged_in)
def audit_signin(sender, request, user, **kwargs):
    audit.record("signin.succeeded", request=request, user=user)


@receiver(user_logged_out)
def audit_signout(sender, request, user, **kwargs):
    if user is not None:
        audit.record("signout", request=request, user=user)


@receiver(user_login_failed)
def audit_failed_signin(sender, credentials, request=None, **kwargs):
    # The typed e-mail is not stored: it may be a password typed in the wrong field.
    audit.record("signin.failed", request=request)


@receiver(password_changed)
@receiver(password_set)
def end_other_sessions(sender, request, user, **kwargs):
    # allauth has just kept this session under a new key (update_session_auth_hash); every other
    # session the old password opened ends now, not at its next request.
    end_sessions(user, keep_session_key=request.session.session_key)
