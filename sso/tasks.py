"""Celery tasks of sso: the daily purge of redeemed grants, back-channel logout delivery and its
sweeper (sso.oidc and sso.backchannel do the work).

Each works across tenants on purpose (a row id names its tenant only once read; the sweeper and
the purge cover every tenant), so each runs in tenants.scoping.all_tenants(), as the outbox's."""

from celery import shared_task

from tenants.scoping import all_tenants

from . import backchannel, oidc


@shared_task(name="sso.tasks.purge_redeemed_grants", ignore_result=True)
def purge_redeemed_grants():
    """Daily: codes and rotated refresh tokens no longer worth remembering (sso.RedeemedGrant)."""
    with all_tenants():
        return oidc.purge_redeemed_grants()


@shared_task(name="sso.tasks.deliver_backchannel_logout", ignore_result=True)
def deliver_backchannel_logout(row_id):
    with all_tenants():
        return backchannel.deliver(row_id)


@shared_task(name="sso.tasks.sweep_backchannel_logouts", ignore_result=True)
def sweep_backchannel_logouts(overdue_seconds=None):
    with all_tenants():
        return backchannel.sweep(overdue_seconds)
