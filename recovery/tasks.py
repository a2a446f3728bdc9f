"""Celery tasks of the recovery app: the weekly admin digest, the never-signed-in nudge and the
daily purge of the reset's counters."""

from datetime import timedelta

from celery import shared_task
from django.db.models import Count, Q
from django.utils import timezone

from accounts.models import User
from accounts.notifications import invite_user
from audit.models import AuditEvent
from outbox import kinds, mail
from tenants.models import Tenant
from tenants.scoping import tenant_scope

from . import app_settings, reset
from .reports import registration_coverage


def tenant_summary(tenant, since):
    """The numbers of the weekly admin digest for one tenant: the report's coverage (the same
    function, so the e-mail and the admin's report agree) and the week's events."""
    coverage = registration_coverage(tenant)
    with tenant_scope(tenant):
        events = AuditEvent.objects.filter(created_at__gte=since)
    events = events.aggregate(
        skips=Count("pk", filter=Q(kind="nudge.skipped")),
        resets=Count("pk", filter=Q(kind="reset.completed")),
        lockouts=Count("pk", filter=Q(kind="reset.locked")),
    )
    return {
        "users": sum(coverage.values()),
        # Pairs, in the report's order: the e-mail is rendered later, from JSON.
        "coverage": list(coverage.items()),
        "skips_this_week": events["skips"],
        "resets": events["resets"],
        "lockouts": events["lockouts"],
    }


@shared_task(name="recovery.tasks.send_admin_digests", ignore_result=True)
def send_admin_digests():
    """Each active tenant's admins get the week's summary; a second run the same week sends none."""
    now = timezone.now()
    since = now - app_settings.DIGEST_PERIOD
    year, week, _day = now.isocalendar()
    queued = 0
    for tenant in Tenant.objects.filter(is_active=True):
        with tenant_scope(tenant):
            admins = User.objects.filter(is_staff=True, is_active=True)
            if not admins.exists():
                continue
            summary = tenant_summary(tenant, since)
            for admin in admins:
                row = mail.queue(
                    kinds.ADMIN_DIGEST, user=admin, context=summary,
                    dedupe_key=f"digest:{admin.pk}:{year}-W{week:02d}",
                )
                queued += row is not None
    return queued


@shared_task(name="recovery.tasks.nudge_never_signed_in", ignore_result=True)
def nudge_never_signed_in():
    """Every NEVER_SIGNED_IN_NUDGE_DAYS (0: off), e-mail employees who never signed in."""
    days = app_settings.NEVER_SIGNED_IN_NUDGE_DAYS
    if days <= 0:
        return 0
    now = timezone.now()
    period = int(now.timestamp() // (days * 86400))
    queued = 0
    for tenant in Tenant.objects.filter(is_active=True):
        with tenant_scope(tenant):
            users = User.objects.filter(
                is_active=True, last_login__isnull=True, date_joined__lte=now - timedelta(days=days),
            ).select_related("tenant")
            for user in users.iterator():
                key = f"never-signed-in:{user.pk}:{period}"
                if user.has_usable_password():
                    row = mail.queue(kinds.NEVER_SIGNED_IN, user=user, dedupe_key=key)
                else:  # no password yet: only a fresh invitation lets them in
                    row = invite_user(user, dedupe_key=key)
                queued += row is not None
    return queued


@shared_task(name="recovery.tasks.purge_reset_counters", ignore_result=True)
def purge_reset_counters():
    """Daily: the password reset's counters whose window and lock are over."""
    return reset.purge_ended_counters()


# --- These tasks under their names from before they moved here from accounts -----------------
# Messages published before a deploy (a beat tick not yet run) name accounts.tasks.*; they run
# as recovery's tasks. They live here, not in accounts.tasks, so accounts never imports
# recovery (issue 15's layers). Remove a release after the move.

@shared_task(name="accounts.tasks.send_admin_digests", ignore_result=True)
def send_admin_digests_under_old_name():
    return send_admin_digests()


@shared_task(name="accounts.tasks.nudge_never_signed_in", ignore_result=True)
def nudge_never_signed_in_under_old_name():
    return nudge_never_signed_in()
