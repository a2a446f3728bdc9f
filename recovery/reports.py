"""Registration coverage and reset outcomes: the numbers behind the admin's user list and report.

Every function takes a tenant (None: every tenant, for platform superusers) and answers in a
constant number of queries.
"""

import contextlib
from datetime import timedelta

from django.core.cache import cache
from django.db.models import Count, F
from django.utils import timezone
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from . import app_settings
from .services import AUTHENTICATOR, METHOD_LABELS, QUESTIONS
from .status import (
    METHOD_FLAGS,
    NEEDS_RECONFIRM,
    REGISTERED,
    STATUS_LABELS,
    registered_at,
    with_method_times,
    with_registration_status,
)

# Every method, in the order the report lists them.
METHODS = list(METHOD_LABELS)
BOTH = f"{QUESTIONS}+{AUTHENTICATOR}"
OTHER = ""
# The rows of the reset table: what was verified in the reset (staff, and tenants that require
# two methods, verify two): each method, then each pair, e.g. "questions+authenticator".
PAIRS = [
    f"{first}+{second}" for index, first in enumerate(METHODS) for second in METHODS[index + 1:]
]
RESET_METHODS = {
    **{method: METHOD_LABELS[method] for method in METHODS},
    **{
        pair: format_lazy("{} + {}", *(METHOD_LABELS[m] for m in pair.split("+")))
        for pair in PAIRS
    },
    OTHER: _("Other / unknown"),
}
# Rows shown even without events: the single methods that every tenant may have.
ALWAYS_SHOWN = (QUESTIONS, AUTHENTICATOR)
# The columns: the audit events of a reset, and where each says which methods it was about
# (recovery.reset writes them: "methods" on completion, "method" on a failed check).
RESET_OUTCOMES = {
    "reset.completed": _("Completed"),
    "reset.verify_failed": _("Verification failed"),
}
METHODS_FIELD = {"reset.completed": "methods", "reset.verify_failed": "method"}
# A lock is not about one method: failures with any method count towards it. It closes the
# reset for one account or for one client address (recovery.reset writes "scope").
LOCK_SCOPES = {
    "account": _("Locked: an account"),
    "address": _("Locked: a client address"),
}


def employees(tenant):
    """The people the coverage counts: active users of the tenant (not platform superusers)."""
    from accounts.models import User

    users = User.objects.filter(is_active=True, tenant__isnull=False)
    return users if tenant is None else users.filter(tenant=tenant)


def registration_coverage(tenant):
    """{status: number of users} over the tenant's active users, every status present.

    The admin report and the weekly digest both show these numbers.
    """
    # GROUP BY the status: each user's status is worked out once.
    rows = (
        with_registration_status(employees(tenant))
        .values(status=F("registration_status"))
        .annotate(n=Count("pk"))
        .order_by()
    )
    counts = {row["status"]: row["n"] for row in rows}
    return {status: counts.get(status, 0) for status in STATUS_LABELS}


def reset_method_key(methods):
    """The RESET_METHODS row of an event's method (a name) or methods (a list of names)."""
    names = [methods] if isinstance(methods, str) else methods
    if not isinstance(names, list) or not names or not set(names) <= set(METHODS):
        return OTHER
    key = "+".join(method for method in METHODS if method in names)
    return key if key in RESET_METHODS else OTHER


def _reset_events(tenant, since):
    from audit.models import AuditEvent

    events = AuditEvent.objects.filter(created_at__gte=since)
    return events if tenant is None else events.filter(tenant=tenant)


def reset_outcomes(tenant, *, days=None, now=None):
    """{(method row, event kind): count} of reset checks and completions in the last `days`
    days (app_settings.REPORT_DAYS by default), and {("lock", scope): count} of reset locks."""
    days = app_settings.REPORT_DAYS if days is None else days
    since = (now or timezone.now()) - timedelta(days=days)
    rows = (
        _reset_events(tenant, since)
        .filter(kind__in=[*RESET_OUTCOMES, "reset.locked"])
        .values("kind", "data__method", "data__methods", "data__scope")
        .annotate(n=Count("id"))
        .order_by()
    )
    counts = {}
    for row in rows:
        if row["kind"] == "reset.locked":
            key = ("lock", row["data__scope"] if row["data__scope"] in LOCK_SCOPES else OTHER)
        else:
            methods = row["data__" + METHODS_FIELD[row["kind"]]]
            key = (reset_method_key(methods), row["kind"])
        counts[key] = counts.get(key, 0) + row["n"]
    return counts


def reset_table(counts):
    """Rows for the report: [{"method": label, "key": method, "cells": [n per outcome], "total"}]."""
    table = []
    for method, label in RESET_METHODS.items():
        cells = [counts.get((method, kind), 0) for kind in RESET_OUTCOMES]
        if method not in ALWAYS_SHOWN and not any(cells):
            continue  # rows that most tenants never have, only when they have events
        table.append({"key": method, "method": label, "cells": cells, "total": sum(cells)})
    return table


def lock_table(counts):
    """[{"key": scope, "label": label, "count": n}] of the reset locks."""
    rows = [
        {"key": scope, "label": label, "count": counts.get(("lock", scope), 0)}
        for scope, label in LOCK_SCOPES.items()
    ]
    unknown = counts.get(("lock", OTHER), 0)
    if unknown:
        rows.append({"key": OTHER, "label": RESET_METHODS[OTHER], "count": unknown})
    return rows


def registration_weeks(tenant, *, now=None, weeks=None):
    """[{"start", "new", "total"}] for the last `weeks` weeks (Monday to Sunday, the tenant's
    time zone), oldest first: users who became registered that week, and the registered users
    at the week's end. Only users registered now count (a removed method leaves the series)."""
    from tenants.models import TenantPolicy

    weeks = weeks or app_settings.REPORT_WEEKS
    now = timezone.localtime(now or timezone.now())
    this_monday = (now - timedelta(days=now.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
    starts = [this_monday - timedelta(weeks=n) for n in range(weeks - 1, -1, -1)]
    default_required = TenantPolicy._meta.get_field("methods_required_for_reset").get_default()
    since_fields = [f"{method}_since" for method in METHOD_FLAGS]
    rows = (
        with_method_times(with_registration_status(employees(tenant)))
        .filter(registration_status__in=(REGISTERED, NEEDS_RECONFIRM))
        .values_list("tenant__policy__methods_required_for_reset", *since_fields)
    )
    times = []
    for required, *method_times in rows.iterator():
        time = registered_at(method_times, required or default_required)
        if time is not None:
            times.append(time)
    series = []
    for start in starts:
        end = start + timedelta(weeks=1)
        series.append({
            "start": start,
            "new": sum(start <= time < end for time in times),
            "total": sum(time < end for time in times),
        })
    return series


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
        "weeks": registration_weeks(tenant, now=now),
        "as_of": now,
    }
    with contextlib.suppress(Exception):  # a cache outage only costs the recount next time
        cache.set(key, numbers, app_settings.REPORT_CACHE_SECONDS)
    return numbers
