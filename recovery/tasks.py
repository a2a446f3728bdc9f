"""Celery tasks of the recovery app."""

from celery import shared_task

from . import reset


@shared_task(name="recovery.tasks.purge_reset_counters", ignore_result=True)
def purge_reset_counters():
    """Daily: the password reset's counters whose window and lock are over."""
    return reset.purge_ended_counters()
