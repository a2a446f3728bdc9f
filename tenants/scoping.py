"""The one tenant-scoping mechanism: every query of tenant data runs inside a tenant's scope.

A context variable holds the scope of the running code:

- `tenant_scope(tenant)`: the rows of that tenant only. TenantMiddleware enters it for every
  request on a tenant's host, right after the host named the tenant; Celery tasks, management
  commands and the CSV import enter it per tenant.
- `all_tenants()`: the platform's deliberate cross-tenant work (a platform superuser's admin, the
  outbox worker and sweeper, finding whose session a foreign cookie is, a query template kept
  per process). Each use says why.
- `platform_scope()`: the rows of no tenant (platform operators, the platform's own audit
  events and e-mails, the built-in question bank). TenantMiddleware enters it on the platform
  host, where only platform superusers sign in.
- no scope (code that entered none: a task, a command, a shell): every query of a scoped model
  raises TenantScopeError, loudly, instead of returning every tenant's rows.

Scoped models declare `objects = TenantScopedManager("<path to the tenant>")` (or subclass it, as
accounts.UserManager does). The manager filters by the scope when the query is made; a
queryset made without a scope raises as soon as it is filtered, evaluated, counted, updated or
deleted (`.none()` and `.create()` still work: creating names its tenant itself). Following a
foreign key from a row already in hand (`device.user`, `user.tenant`) is not a query of the
scoped manager and needs no scope; reverse relations (`tenant.users.all()`) are scoped.

Why not django-scopes (its design, a context variable and a manager that refuses to query
without a scope, is the one here): a `None` scope value means "no filter" there, so a platform
request (tenant None) would see every tenant's rows, the very leak this guards against; it has
no way to say "this tenant's rows and the shared ones" (the built-in question bank has no
tenant); and its manager class is built at run time, which makemigrations cannot serialise for
the user model's manager (use_in_migrations). See README.md, "Layout".
"""

import functools
from contextlib import contextmanager
from contextvars import ContextVar

from django.db import models

__all__ = [
    "TenantScopeError", "TenantScopedManager", "TenantScopedQuerySet",
    "all_tenants", "platform_scope", "scope_of_user", "tenant_scope",
]


class TenantScopeError(RuntimeError):
    """A query of tenant data was made with no tenant in scope."""


class _Scope:
    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return f"<{self.name}>"


ALL_TENANTS = _Scope("all tenants")
PLATFORM = _Scope("the platform: no tenant")
_scope: ContextVar = ContextVar("tenant_scope", default=None)


@contextmanager
def tenant_scope(tenant):
    """Queries inside see `tenant`'s rows only (a Tenant, never None)."""
    if tenant is None or isinstance(tenant, _Scope) or getattr(tenant, "pk", None) is None:
        raise TenantScopeError(f"tenant_scope() needs a saved tenant, not {tenant!r}")
    token = _scope.set(tenant)
    try:
        yield tenant
    finally:
        _scope.reset(token)


@contextmanager
def all_tenants():
    """The platform's deliberate cross-tenant work: queries inside see every tenant's rows."""
    token = _scope.set(ALL_TENANTS)
    try:
        yield
    finally:
        _scope.reset(token)


@contextmanager
def platform_scope():
    """Queries inside see the rows of no tenant only (the platform host's requests)."""
    token = _scope.set(PLATFORM)
    try:
        yield
    finally:
        _scope.reset(token)


def scope_of_user(user):
    """The scope a user's own rows are in: their tenant's, or the platform's for an operator.

    For work about one user in hand that may be called from anywhere (a signal receiver: a
    request on any host, a platform superuser's admin, a task, a script)."""
    if getattr(user, "tenant_id", None) is None:
        return platform_scope()
    return tenant_scope(user.tenant)


def all_tenants_for_this_script():
    """A benchmark or one-off script that seeds and reads every tenant: all tenants from here on
    (never in the portal's own code, which enters its scopes with `with`)."""
    _scope.set(ALL_TENANTS)


def _refuse_without_scope(queryset, *others):
    for each in (queryset, *others):
        if getattr(each, "_tenant_scope_missing", False):
            raise TenantScopeError(
                f"{each.model._meta.label} was queried with no tenant in scope: enter "
                "tenants.scoping.tenant_scope(tenant) (or all_tenants() for deliberate "
                "platform-wide work)."
            )


def _refusing(method):
    @functools.wraps(method)  # keeps queryset_only: Manager.from_queryset reads it
    def checked(self, *args, **kwargs):
        _refuse_without_scope(self)
        return method(self, *args, **kwargs)

    return checked


def _refusing_combination(method):
    @functools.wraps(method)
    def checked(self, other):
        _refuse_without_scope(self, other)
        return method(self, other)

    return checked


# Every public way a QuerySet reaches the database or becomes another QuerySet (which could be
# evaluated, or used as a subquery, later). Creating (create, bulk_create) and none() stay.
_QUERYING = (
    "__iter__", "__len__", "__bool__", "__getitem__", "__aiter__", "aiterator", "iterator",
    "all", "filter", "exclude", "complex_filter", "get", "first", "last", "earliest", "latest",
    "order_by", "reverse", "distinct", "values", "values_list", "dates", "datetimes",
    "annotate", "alias", "select_related", "prefetch_related", "extra", "defer", "only",
    "using", "select_for_update", "union", "intersection", "difference", "in_bulk",
    "count", "exists", "contains", "aggregate", "update", "delete", "explain",
    "get_or_create", "update_or_create", "raw",
)


class TenantScopedQuerySet(models.QuerySet):
    """A queryset that refuses to run when it was made with no tenant in scope."""

    _tenant_scope_missing = False

    __and__ = _refusing_combination(models.QuerySet.__and__)
    __or__ = _refusing_combination(models.QuerySet.__or__)
    __xor__ = _refusing_combination(models.QuerySet.__xor__)

    def __repr__(self):
        if self._tenant_scope_missing:
            return f"<{type(self).__name__} of {self.model._meta.label}: no tenant in scope>"
        return super().__repr__()

    def none(self):
        if not self._tenant_scope_missing:
            return super().none()
        return models.QuerySet(model=self.model, using=self.db).none()


for _name in _QUERYING:
    setattr(TenantScopedQuerySet, _name, _refusing(getattr(models.QuerySet, _name)))


class TenantScopedManager(models.Manager.from_queryset(TenantScopedQuerySet)):
    """`objects` of a model with tenant data: filtered by the scope (see the module docstring).

    `lookup` is the ORM path to the tenant ("tenant", "user__tenant"); `shared` also lets the
    rows with no tenant through (the built-in question bank, which every tenant uses).
    """

    def __init__(self, lookup="tenant", *, shared=False):
        super().__init__()
        self.tenant_lookup = lookup
        self.shared_rows = shared

    def all(self):
        # Manager.all() hands get_queryset() over as it is; a queryset made with no scope must
        # refuse here too, or it could slip into another query as an unfiltered subquery.
        return self.get_queryset().all()

    def get_queryset(self):
        queryset = super().get_queryset()
        if self.model.__module__ == "__fake__":
            # Migrations' historical models: schema and data migrations are platform work.
            return queryset
        scope = _scope.get()
        if scope is ALL_TENANTS:
            return queryset
        if scope is None:
            queryset._tenant_scope_missing = True
            return queryset
        # The model's own manager holds the rule: Django builds the managers of reverse relations
        # (device.answers) from this class without the model's arguments.
        rule = self.model._default_manager
        no_tenant = models.Q(**{f"{rule.tenant_lookup}__isnull": True})
        if scope is PLATFORM:
            return queryset.filter(no_tenant)
        condition = models.Q(**{rule.tenant_lookup: scope.pk})
        if rule.shared_rows:
            condition |= no_tenant
        return queryset.filter(condition)
