"""allauth.usersessions' record of each user's sessions, kept in one statement per sign-in.

The record is the list that a reset and "sign out everywhere" end. allauth adds to it at each
sign-in and, first, checks every session it recorded for the user before: a server-side cursor,
then per session a session load and a user query, then get-or-create in a transaction with a
savepoint, about ten database round trips per sign-in and more for a user with many sessions
(bench/README.md). Here a sign-in is one INSERT (its session key is new: django.contrib.auth's
login cycles it): record_session, in allauth's receiver's place
(core.compat.allauth.replace_usersessions_sign_in_receiver). A sign-out forgets its own record at once. Sessions that end otherwise (they
expire, or are deleted from elsewhere) leave the record in the daily purge, which also deletes
Django's expired sessions; until then a reset just finds their session already gone.
"""

import logging

from allauth.account.adapter import get_adapter
from allauth.usersessions.models import UserSession
from django.conf import settings
from django.contrib.auth.signals import user_logged_out
from django.contrib.sessions.models import Session
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone
from django.utils.module_loading import import_string

from tenants.scoping import scope_of_user

logger = logging.getLogger(__name__)


def record_session(sender, request, user, **kwargs):
    if not request.session.session_key:
        request.session.save()
    user_agent_length = UserSession._meta.get_field("user_agent").max_length
    UserSession.objects.create(
        user=user,
        session_key=request.session.session_key,
        ip=get_adapter(request).get_client_ip(request),
        user_agent=request.META.get("HTTP_USER_AGENT", "")[:user_agent_length],
    )


def forget_session(sender, request, user, **kwargs):
    if user is not None and request.session.session_key:
        UserSession.objects.filter(user=user, session_key=request.session.session_key).delete()


def end_sessions(user, *, keep_session_key=None):
    """Delete every session of the user that was recorded here (but `keep_session_key`), from
    the database and the cache: what a reset or a password change does to the old access.

    Every sign-in goes through django.contrib.auth.login, which records it. A session opened any
    other way dies at its next request all the same: Django checks the session's password hash,
    and the password has just changed. (Scanning and decoding every session of every tenant
    would cost O(all sessions) for no extra safety.)
    """
    for user_session in UserSession.objects.filter(user=user).exclude(session_key=keep_session_key):
        try:
            user_session.end()
        except Exception:  # noqa: BLE001 - cache down: the row is gone, the hash check does the rest
            logger.warning("could not end session %s in the cache", user_session.pk)


def end_access(user, *, reason, keep_session_key=None):
    """Every access the user's credentials granted ends: the web sessions (end_sessions) and,
    through accounts.signals.access_ended, whatever apps above accounts granted (sso: the
    applications' tokens, and a logout token to each application).

    Call it in the transaction of the event (reset, deactivation...): the apps record what they
    owe in it, so nothing is lost if the process dies right after the commit.
    reason: "password_reset", "password_changed", "deactivated", "reregistration_required",
    "signed_out_everywhere" (My account).
    """
    from .signals import access_ended

    # The receivers run in the user's own scope (tenants.scoping), whatever the caller's: a
    # request on the user's host, a platform superuser's admin (all tenants), a task, a script.
    with transaction.atomic(), scope_of_user(user):
        access_ended.send(sender=type(user), user=user, reason=reason)
    end_sessions(user, keep_session_key=keep_session_key)


def purge_ended_sessions():
    """Delete Django's expired sessions, then every record whose session is gone; returns the
    number of records deleted. NOT EXISTS probes the session table's key per record."""
    import_string(f"{settings.SESSION_ENGINE}.SessionStore").clear_expired()
    live = Session.objects.filter(session_key=OuterRef("session_key"), expire_date__gt=timezone.now())
    deleted, _by_model = UserSession.objects.exclude(Exists(live)).delete()
    return deleted


def install():
    """record_session takes the place of allauth's receiver at sign-in
    (core.compat.allauth.replace_usersessions_sign_in_receiver); a sign-out forgets its record."""
    user_logged_out.connect(receiver=forget_session, dispatch_uid="portal_forget_session")
