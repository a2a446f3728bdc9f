"""Celery tasks of the accounts app: the daily purge of ended sessions.

The weekly admin digest and the never-signed-in nudge are recovery's (recovery.tasks), which
also answers to their names from before the move (accounts.tasks.send_admin_digests,
accounts.tasks.nudge_never_signed_in): an alias here would make accounts import recovery.
"""

from celery import shared_task

from outbox import tasks as outbox_tasks

from . import usersessions


@shared_task(name="accounts.tasks.purge_ended_sessions", ignore_result=True)
def purge_ended_sessions():
    """Daily: expired sessions and the records of sessions that ended without a sign-out."""
    return usersessions.purge_ended_sessions()


# --- The outbox's tasks under their names before it became its own app ------------------------
# Messages published before a deploy (e-mails in flight, retries waiting for their countdown)
# name accounts.tasks.*; they still run, as the outbox's tasks. Remove a release after the move.

@shared_task(name="accounts.tasks.deliver_email", ignore_result=True)
def deliver_email_under_old_name(outbox_id):
    return outbox_tasks.deliver_email(outbox_id)


@shared_task(name="accounts.tasks.deliver_due", ignore_result=True)
def deliver_due_under_old_name():
    return outbox_tasks.deliver_due()


@shared_task(name="accounts.tasks.sweep_outbox", ignore_result=True)
def sweep_outbox_under_old_name(overdue_seconds=None):
    return outbox_tasks.sweep_outbox(overdue_seconds)
