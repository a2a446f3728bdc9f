"""Celery tasks of the sso app: the daily purge of the record of redeemed grants."""

from celery import shared_task

from . import oidc


@shared_task(name="sso.tasks.purge_redeemed_grants", ignore_result=True)
def purge_redeemed_grants():
    """Daily: codes and rotated refresh tokens no longer worth remembering (sso.RedeemedGrant)."""
    return oidc.purge_redeemed_grants()
