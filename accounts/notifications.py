"""E-mails the portal owes users about their account: the entry point for the flows that send them.

Each function records the e-mail in the outbox (outbox.mail) in the caller's transaction and
hands delivery to Celery after commit. Each returns the OutboxEmail row, or None when nothing
is owed (inactive user). E-mails about recovery registration (the reminder, the never-signed-in
nudge, the admin digest) are recovery's: recovery.notifications and recovery.tasks.
"""

from django.urls import reverse
from django.utils import timezone

from outbox import kinds, mail

from .invites import invite_path


def notify_password_changed(user, *, how="reset"):
    """The user's password was changed (how: "reset" self-service, "admin" reset, "change")."""
    if not user.is_active:
        return None
    return mail.queue(
        kinds.PASSWORD_CHANGED, user=user,
        context={"how": how, "changed_at": timezone.now().isoformat()},
    )


def invite_user(user, *, dedupe_key=None):
    """A new account was created by an admin: invite the user to set a first password.

    The link (made when the e-mail is sent) opens /accounts/invite/<uidb64>/<token>/ on the
    user's tenant host; it stops working once a password is set.
    """
    if not user.is_active or user.tenant_id is None:
        return None
    return mail.queue(kinds.INVITE, user=user, dedupe_key=dedupe_key)


# --- What the outbox needs to know about these e-mails (registered by AccountsConfig.ready) ---

def _sign_in_path(row):
    return reverse("account_login")


def _invitation_wanted(row):
    # Once a password is set the invitation has done its job; its link would be a reset.
    return kinds.recipient_active(row) and not row.user.has_usable_password()


def register_mail_kinds():
    kinds.register(kinds.INVITE, link_path=lambda row: invite_path(row.user),
                   still_wanted=_invitation_wanted)
    kinds.register(kinds.PASSWORD_CHANGED, link_path=_sign_in_path)
