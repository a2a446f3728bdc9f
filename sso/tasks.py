"""Celery tasks of sso: back-channel logout delivery and its sweeper (sso.backchannel works)."""

from celery import shared_task

from . import backchannel


@shared_task(name="sso.tasks.deliver_backchannel_logout", ignore_result=True)
def deliver_backchannel_logout(row_id):
    return backchannel.deliver(row_id)


@shared_task(name="sso.tasks.sweep_backchannel_logouts", ignore_result=True)
def sweep_backchannel_logouts(overdue_seconds=None):
    return backchannel.sweep(overdue_seconds)
