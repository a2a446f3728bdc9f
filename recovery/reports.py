"""Registration coverage and reset outcomes: the numbers behind the admin's user list and report.

Every function takes a tenant (None: every tenant, for platform superusers) and answers in a
constant number of queries.
"""

import contextlib
from datetime import timedelta

from django.core.cache import cache
from django.db.models import Case, Count, F, IntegerField, Value, When
from django.db.models.fields.json import KT
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .services import AUTHENTICATOR, QUESTIONS, users_with_methods

REGISTERED = "registered"
SKIPPED = "skipped"
NOT_REGISTERED = "none"
REGISTRATION_STATES = {
    REGISTERED: _("Registered"),
    SKIPPED: _("Skipped"),
    NOT_REGISTERED: _("Not registered"),
}

RESET_OUTCOMES = {
    "reset.completed": _("Completed"),
    "reset.verify_failed": _("Verification failed"),
    "reset.locked": _("Locked"),
}
RESET_METHODS = {
    QUESTIONS: _("Security questions"),
    AUTHENTICATOR: _("Authenticator app"),
    "": _("Other / unknown"),
}
REPORT_DAYS = 30
# The report's numbers aggregate the whole tenant (linear in its size): computed at most once a
# minute per tenant unless the admin asks for fresh ones (bench/scale.py, bench/README.md).
REPORT_CACHE_SECONDS = 60


def with_registration_state(queryset):
    """Annotate has_questions, has_authenticator, skip_count, last_reset_at; alias
    registration_state (for filters and counts).

    Registered means: as many methods as the tenant's policy needs for a reset (one, or both
    when the policy asks for two and enables both). One query for any number of users.
    """
    methods = Case(When(has_questions=True, then=1), default=0) + Case(
        When(has_authenticator=True, then=1), default=0
    )
    required = Case(
        When(
            tenant__policy__methods_required_for_reset=2,
            tenant__policy__questions_enabled=True,
            tenant__policy__authenticator_enabled=True,
            then=2,
        ),
        default=1,
        output_field=IntegerField(),
    )
    return (
        users_with_methods(queryset)
        .annotate(
            skip_count=F("recovery__skip_count"),
            last_reset_at=F("recovery__last_reset_at"),
        )
        # Aliases, not columns: only filters and the coverage count need them, and each copy in
        # the SELECT list would probe the device tables again for every row.
        .alias(methods_registered=methods, methods_required=required)
        .alias(
            registration_state=Case(
                When(methods_registered__gte=F("methods_required"), then=Value(REGISTERED)),
                When(skip_count__gt=0, then=Value(SKIPPED)),
                default=Value(NOT_REGISTERED),
            )
        )
    )


def employees(tenant):
    """The people the coverage counts: active users of the tenant (not platform superusers)."""
    from accounts.models import User

    users = User.objects.filter(is_active=True, tenant__isnull=False)
    return users if tenant is None else users.filter(tenant=tenant)


def registration_coverage(tenant):
    """{"registered": n, "skipped": n, "none": n} over the tenant's active users."""
    # GROUP BY the state: each user's state is worked out once (three FILTERed counts would
    # work it out three times per user).
    rows = (
        with_registration_state(employees(tenant))
        .values(state=F("registration_state"))
        .annotate(n=Count("pk"))
        .order_by()
    )
    counts = {row["state"]: row["n"] for row in rows}
    return {state: counts.get(state, 0) for state in REGISTRATION_STATES}


def reset_outcomes(tenant, *, days=REPORT_DAYS, now=None):
    """{(method, kind): count} of reset audit events in the last `days` days."""
    from accounts.models import AuditEvent

    since = (now or timezone.now()) - timedelta(days=days)
    events = AuditEvent.objects.filter(kind__in=RESET_OUTCOMES, created_at__gte=since)
    if tenant is not None:
        events = events.filter(tenant=tenant)
    rows = events.annotate(method=KT("data__method")).values("method", "kind").annotate(n=Count("id"))
    counts = {}
    for row in rows:
        method = row["method"] if row["method"] in RESET_METHODS else ""
        key = (method, row["kind"])
        counts[key] = counts.get(key, 0) + row["n"]
    return counts


def reset_table(counts):
    """Rows for the report: [{"method": label, "key": method, "cells": [n per outcome], "total"}]."""
    table = []
    for method, label in RESET_METHODS.items():
        cells = [counts.get((method, kind), 0) for kind in RESET_OUTCOMES]
        if method == "" and not any(cells):
            continue  # the "unknown" row only when such events exist
        table.append({"key": method, "method": label, "cells": cells, "total": sum(cells)})
    return table


def report_numbers(tenant, *, refresh=False, now=None):
    """{"coverage", "resets", "as_of"} for the report, cached per tenant for a minute.

    refresh=True recomputes them now. Without the cache (Redis down) they are computed each time.
    """
    key = f"portal.report.{tenant.pk if tenant is not None else 'all'}"
    if not refresh:
        try:
            cached = cache.get(key)
        except Exception:  # noqa: BLE001 - the cache is an optimisation, never a failure
            cached = None
        if cached is not None:
            return cached
    now = now or timezone.now()
    numbers = {
        "coverage": registration_coverage(tenant),
        "resets": reset_outcomes(tenant, now=now),
        "as_of": now,
    }
    with contextlib.suppress(Exception):  # a cache outage only costs the recount next time
        cache.set(key, numbers, REPORT_CACHE_SECONDS)
    return numbers
