"""A user's registration status, defined once.

The sign-in nudge, the admin's user list and its CSV export, the report and the weekly digest
all read the status from here, so they cannot disagree about a user:

- registered: as many of the methods the tenant enables as its policy needs (two when it asks
  for two methods for a reset, else one; a set of recovery codes counts while a code of it is
  left), confirmed within the re-confirm interval;
- needs re-confirm: enough methods, but the re-confirm interval has passed;
- skipped: not enough methods, and the user skipped the sign-in nudge at least once;
- not registered: not enough methods, never skipped.

The definition is one SQL expression (with_registration_status), so a tenant of 100,000 users
is counted in the database; registration_status(user) evaluates that same expression for one
user. A user without a tenant is judged by the default policy.
"""

import functools
from datetime import timedelta

from django.db.models import (
    BooleanField,
    Case,
    DateTimeField,
    DurationField,
    ExpressionWrapper,
    F,
    IntegerField,
    OuterRef,
    Q,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Least, Now
from django.utils.translation import gettext_lazy as _
from django_otp.plugins.otp_totp.models import TOTPDevice

from tenants.scoping import all_tenants

from .models import RecoveryCodeDevice, SecurityQuestionsDevice
from .services import AUTHENTICATOR, QUESTIONS, RECOVERY_CODES

REGISTERED = "registered"
NEEDS_RECONFIRM = "reconfirm"
SKIPPED = "skipped"
NOT_REGISTERED = "none"
STATUS_LABELS = {
    REGISTERED: _("Registered"),
    NEEDS_RECONFIRM: _("Needs re-confirm"),
    SKIPPED: _("Skipped"),
    NOT_REGISTERED: _("Not registered"),
}
# The statuses in which the sign-in nudge asks for (more) methods.
MISSING_METHODS = (SKIPPED, NOT_REGISTERED)


def _confirmed_devices(device_model):
    devices = device_model.objects.filter(user=OuterRef("pk"), confirmed=True)
    # A set of recovery codes counts while a code of it is left: a used-up set proves nothing.
    return devices.filter(codes__isnull=False) if device_model is RecoveryCodeDevice else devices


def _has_confirmed_device(device_model):
    # A scalar subquery rather than EXISTS: over many users PostgreSQL turns EXISTS into a hash
    # of the whole device table (every tenant's), which the admin's 100-row page paid for in
    # full (bench/scale.py: 80 ms at 100,000 users); this probes the user_id index per row.
    first = _confirmed_devices(device_model).values(flag=Value(True))
    return Coalesce(Subquery(first[:1]), Value(False), output_field=BooleanField())


# Each method: the annotation saying the user has it, and the device that holds it.
METHOD_FLAGS = {
    QUESTIONS: ("has_questions", SecurityQuestionsDevice),
    AUTHENTICATOR: ("has_authenticator", TOTPDevice),
    RECOVERY_CODES: ("has_recovery_codes", RecoveryCodeDevice),
}


def _policy(field):
    """The user's tenant policy's field; the model's default for a user without a tenant."""
    from tenants.models import TenantPolicy

    model_field = TenantPolicy._meta.get_field(field)
    # Plain IntegerField: SQLite's duration arithmetic accepts no other integer type.
    kind = BooleanField() if isinstance(model_field, BooleanField) else IntegerField()
    return Coalesce(F(f"tenant__policy__{field}"), Value(model_field.get_default()), output_field=kind)


def _one_if(**condition):
    return Case(When(**condition, then=Value(1)), default=Value(0))


def with_registration_status(users):
    """A User queryset with has_questions, has_authenticator, has_recovery_codes and
    registration_status annotated.

    One query for any number of users. The intermediate values are aliases, not columns: each
    copy in the SELECT list would probe the device tables again for every row.
    """
    return (
        users.annotate(**{
            flag: _has_confirmed_device(device_model) for flag, device_model in METHOD_FLAGS.values()
        })
        .alias(
            questions_enabled=_policy("questions_enabled"),
            authenticator_enabled=_policy("authenticator_enabled"),
            recovery_codes_enabled=_policy("recovery_codes_enabled"),
            reconfirm_days=_policy("reconfirm_days"),
        )
        .alias(
            # Only methods the tenant enables count: the reset offers no other.
            methods_usable=(
                _one_if(has_questions=True, questions_enabled=True)
                + _one_if(has_authenticator=True, authenticator_enabled=True)
                + _one_if(has_recovery_codes=True, recovery_codes_enabled=True)
            ),
            # Enough to reset: what the policy asks for, at most the methods it enables.
            methods_required=Least(
                _policy("methods_required_for_reset"),
                _one_if(questions_enabled=True) + _one_if(authenticator_enabled=True)
                + _one_if(recovery_codes_enabled=True),
                output_field=IntegerField(),
            ),
            reconfirm_at=ExpressionWrapper(
                F("recovery__methods_confirmed_at")
                + ExpressionWrapper(
                    F("reconfirm_days") * Value(timedelta(days=1)), output_field=DurationField()
                ),
                output_field=DateTimeField(),
            ),
        )
        .annotate(
            registration_status=Case(
                # Nested, so each row's methods are probed once, not once per branch.
                When(
                    methods_usable__gte=F("methods_required"),
                    then=Case(
                        When(
                            Q(reconfirm_days__gt=0, reconfirm_at__lte=Now()),
                            then=Value(NEEDS_RECONFIRM),
                        ),
                        default=Value(REGISTERED),
                    ),
                ),
                When(recovery__skip_count__gt=0, then=Value(SKIPPED)),
                default=Value(NOT_REGISTERED),
            )
        )
    )


class RegistrationStatus:
    """One user's status and what it rests on, read in one query (the nudge relies on that)."""

    def __init__(self, row):
        self.state = row.get("registration_status", NOT_REGISTERED)
        self.methods = {method for method, (flag, _model) in METHOD_FLAGS.items() if row.get(flag)}
        self.methods_confirmed_at = row.get("recovery__methods_confirmed_at")
        self.questions_since = row.get("questions_since")
        self.authenticator_since = row.get("authenticator_since")
        self.recovery_codes_since = row.get("recovery_codes_since")

    def since(self, method):
        """When the user registered the method (None when not registered)."""
        return getattr(self, f"{method}_since", None) if method in self.methods else None

    @property
    def label(self):
        return STATUS_LABELS[self.state]


def with_method_times(users):
    """A User queryset with <method>_since annotated: when each method was added (or None),
    from its first confirmed device (METHOD_FLAGS)."""

    def since(device_model):
        return Subquery(_confirmed_devices(device_model).order_by("created_at").values("created_at")[:1])

    return users.annotate(**{
        f"{method}_since": since(device_model) for method, (_flag, device_model) in METHOD_FLAGS.items()
    })


def registered_at(method_times, methods_required):
    """When a user became registered: the time their `methods_required`-th method was added."""
    times = sorted(time for time in method_times if time is not None)
    if not times:
        return None
    return times[min(max(methods_required, 1), len(times)) - 1]


@functools.cache
def _registration_status_query():
    """registration_status's query for any user: built once per process, filtered per call.

    Building it took more CPU than PostgreSQL took to run it, and every sign-in builds it twice:
    the nudge stage and the nudge page (bench/README.md). Nothing in it depends on the time of
    the call (the re-confirm check uses the database's clock), so the template is never stale.

    Built in all_tenants() (tenants.scoping), never in the scope of whichever request came
    first, which it would keep for every later one: it is only ever filtered to one user in hand
    (registration_status), whom the caller found in its own scope.
    """
    from accounts.models import User

    with all_tenants():
        return (
            with_method_times(with_registration_status(User.objects.all()))
            .values(
                "registration_status", *(flag for flag, _model in METHOD_FLAGS.values()),
                *(f"{method}_since" for method in METHOD_FLAGS), "recovery__methods_confirmed_at",
            )
        )


def registration_status(user) -> RegistrationStatus:
    """The status of one user: with_registration_status's expression, evaluated for them."""
    rows = list(_registration_status_query().filter(pk=user.pk)[:1])
    return RegistrationStatus(rows[0] if rows else {})


def registered_methods(user) -> set[str]:
    return registration_status(user).methods
