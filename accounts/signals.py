from allauth.account.signals import password_changed, password_set
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db.models.signals import post_save
from django.dispatch import Signal, receiver

import audit

from .models import User
from .usersessions import end_access

# Sent (sender=User, user=, reason=) inside the transaction of an event that ends every access
# the user's credentials granted: a password reset or change, a deactivation, an admin's
# "require re-registration". Web sessions are ended here (accounts.usersessions.end_access);
# apps above accounts end the rest (sso revokes the user's tokens and tells the connected
# applications). Sent through accounts.usersessions.end_access only.
access_ended = Signal()


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
    # session the old password opened ends now, not at its next request; so do the tokens that
    # the applications hold (access_ended).
    end_access(user, reason="password_changed", keep_session_key=request.session.session_key)


@receiver(post_save, sender=User)
def end_access_of_deactivated_user(sender, instance, created, raw=False, **kwargs):
    # Saved inactive after it was loaded active (admin form, CSV import, a script): whatever it
    # held ends now, so a later reactivation does not bring old tokens back.
    was_active = getattr(instance, "_loaded_is_active", None)
    instance._loaded_is_active = instance.is_active
    if not created and not raw and was_active and not instance.is_active:
        end_access(instance, reason="deactivated")
