"""Celery tasks of sso: the daily purge of redeemed grants, back-channel logout delivery and its
sweeper (sso.oidc and sso.backchannel do the work)."""

from celery import shared_task

from . import backchannel, oidc


@shared_task(name="sso.tasks.purge_redeemed_grants", ignore_result=True)
def purge_redeemed_grants():
    """Daily: codes and rotated refresh tokens no longer worth remembering (sso.RedeemedGrant)."""
    return oidc.purge_redeemed_grants()


@shared_task(name="sso.tasks.deliver_backchannel_logout", ignore_result=True)
def deliver_backchannel_logout(row_id):
    return backchannel.deliver(row_id)


@shared_task(name="sso.tasks.sweep_backchannel_logouts", ignore_result=True)
def sweep_backchannel_logouts(overdue_seconds=None):
    return backchannel.sweep(overdue_seconds)
