"""allauth.usersessions' bookkeeping at sign-in, in two statements.

allauth records each sign-in's session (the list that "sign out everywhere" and a password reset
end) and, first, checks every session of the user it recorded before: a server-side cursor over
them, then per session a session load and a user query, then get-or-create in a transaction with
a savepoint. That was about ten database round trips per sign-in, more for a user with many
sessions (bench/README.md). Here: one DELETE of the user's records whose session has ended, one
INSERT for the new session (its key is new: django.contrib.auth.login cycles it).
"""

from allauth.account.adapter import get_adapter
from allauth.account.signals import user_logged_in
from allauth.usersessions import signals as usersessions_signals
from allauth.usersessions.models import UserSession
from django.contrib.sessions.models import Session
from django.db.models import Exists, OuterRef
from django.utils import timezone


def record_session(sender, request, user, **kwargs):
    # NOT EXISTS, probing the session table's key per record of this user; NOT IN made
    # PostgreSQL hash every live session of the platform at each sign-in (17 ms at 50,000).
    live = Session.objects.filter(session_key=OuterRef("session_key"), expire_date__gt=timezone.now())
    ended = UserSession.objects.filter(user=user).exclude(Exists(live))
    # The bare DELETE: QuerySet.delete() wraps even a single fast delete in BEGIN/COMMIT, two
    # more round trips; nothing cascades from a record and nothing listens for its deletion.
    ended._raw_delete(ended.db)
    if not request.session.session_key:
        request.session.save()
    user_agent_length = UserSession._meta.get_field("user_agent").max_length
    UserSession.objects.create(
        user=user,
        session_key=request.session.session_key,
        ip=get_adapter(request).get_client_ip(request),
        user_agent=request.META.get("HTTP_USER_AGENT", "")[:user_agent_length],
    )


def install():
    """Take the place of allauth's receiver (connected in its AppConfig.ready, which ran first)."""
    if not user_logged_in.disconnect(receiver=usersessions_signals.on_user_logged_in):
        raise RuntimeError("allauth.usersessions' sign-in receiver was not found: review "
                           "accounts/usersessions.py against the installed allauth")
    user_logged_in.connect(receiver=record_session, dispatch_uid="portal_record_session")
