"""E-mails the portal owes users. The one entry point for every flow that must tell someone.

Each function records the e-mail in the outbox (accounts.models.OutboxEmail) in the caller's
transaction and hands delivery to Celery after commit. (Stubs until the reminders work lands.)
"""


def remind_to_register(user):
    """The user skipped the registration nudge: remind them (at most once per policy interval)."""


def notify_password_changed(user, *, how="reset"):
    """The user's password was changed (self-service reset, admin reset, or change)."""


def invite_user(user):
    """A new account was created by an admin: invite the user to set a first password."""
