"""Tenant scoping for every admin class: the one place that seals one tenant off from another.

An organisation admin (is_staff, tenant set) works on their tenant's host and sees only their
tenant's rows: querysets, foreign-key and many-to-many choices, list filters, search,
autocomplete, object URLs (another tenant's object is a 404), actions and CSV exports all go
through get_queryset() below. Saving sets the tenant. Platform superusers (no tenant, platform
host) see everything and pick the tenant themselves.

Only what a list offers may be applied to it (lookup_allowed): its list filters and date
drill-down. Django's default lets any lookup on a local field through, which turns a list into
an oracle (?password__startswith=argon2$… extracts a hash character by character).

Org admins get their permissions here (has_*_permission), not from permission rows: they are
the same for every organisation admin, so there is nothing to assign and nothing to migrate.

Underneath, the rows come from tenants.scoping like every other query: an org admin's request
runs in its host's tenant scope, a platform superuser's admin pages in all_tenants()
(console.admin_site.PortalAdminSite.admin_view). The filter here repeats it for the portal's
models and is the only one for library models without a scoped manager (allauth's OIDC clients,
through their tenant link).
"""

from django.contrib import admin
from django.contrib.admin.utils import get_fields_from_path
from django.core.exceptions import ValidationError
from django.db import models
from django.http import Http404

from accounts.backends import user_belongs_to_request


def is_platform_admin(request) -> bool:
    user = request.user
    return bool(user.is_active and user.is_superuser and request.tenant is None)


def is_org_admin(request) -> bool:
    """A staff user of the tenant whose host this is (never another tenant's admin)."""
    user = request.user
    return bool(
        user.is_active
        and user.is_staff
        and request.tenant is not None
        and user_belongs_to_request(user, request)
    )


def admin_tenant(request):
    """The tenant an admin request is limited to; None for a platform superuser (no limit)."""
    if is_platform_admin(request):
        return None
    if is_org_admin(request):
        return request.tenant
    # Anyone else reaching an admin view gets nothing: a tenant that matches no row.
    raise Http404


def tenant_lookup(model):
    """The ORM path from `model` to its tenant, or None when the model is not tenant-owned."""
    from tenants.models import Tenant

    if model is Tenant:
        return "pk"
    lookup = getattr(model, "tenant_lookup", None)
    if lookup:
        return lookup
    try:
        field = model._meta.get_field("tenant")
    except Exception:  # noqa: BLE001 - FieldDoesNotExist: not tenant-owned
        return None
    return "tenant" if field.is_relation else None


def scope_queryset(queryset, tenant, lookup=None):
    """Rows of `tenant` only (None: every row). Models without a tenant show nothing to org admins."""
    if tenant is None:
        return queryset
    lookup = lookup or tenant_lookup(queryset.model)
    if lookup is None:
        return queryset.none()
    return queryset.filter(**{lookup: tenant.pk})


def validate_unique_in_tenant(form, tenant_field):
    """The model's unique constraints that include the tenant, checked for a tenant-bound form.

    Django skips every uniqueness check that involves a field the form does not show, and an org
    admin's form never shows the tenant (it is set from the host): without this, "already exists
    in this tenant" would surface as a database error. A duplicate's message goes to the one
    other field of the constraint where there is one (e-mail), else to the form.
    """
    model = type(form.instance)
    exclude = {
        f.name for f in model._meta.fields if f.name not in form.fields and f.name != tenant_field
    } | set(form.errors)
    for constraint in model._meta.constraints:
        fields = getattr(constraint, "fields", ())
        if tenant_field not in fields:
            continue
        try:
            constraint.validate(model, form.instance, exclude=exclude)
        except ValidationError as error:
            others = [f for f in fields if f != tenant_field]
            form.add_error(others[0] if len(others) == 1 and others[0] in form.fields else None, error)


class TenantScopedAdmin(admin.ModelAdmin):
    """Base of every admin class of the portal (see the module docstring)."""

    #: path from the model to its tenant ("tenant", "user__tenant", "pk" for Tenant)
    tenant_field = "tenant"
    #: org admins may create rows (their tenant is set on save)
    org_admin_can_add = True
    org_admin_can_change = True
    org_admin_can_delete = True
    #: fields only platform superusers see on forms
    platform_only_fields = ()

    # --- permissions ------------------------------------------------------------------------
    def _org_admin(self, request):
        return is_org_admin(request)

    def has_module_permission(self, request):
        return is_platform_admin(request) or self._org_admin(request)

    def has_view_permission(self, request, obj=None):
        if is_platform_admin(request):
            return True
        return self._org_admin(request) and self._owned(request, obj)

    def has_add_permission(self, request):
        if is_platform_admin(request):
            return True
        return self._org_admin(request) and self.org_admin_can_add

    def has_change_permission(self, request, obj=None):
        if is_platform_admin(request):
            return True
        return self._org_admin(request) and self.org_admin_can_change and self._owned(request, obj)

    def has_delete_permission(self, request, obj=None):
        if is_platform_admin(request):
            return True
        return self._org_admin(request) and self.org_admin_can_delete and self._owned(request, obj)

    def _owned(self, request, obj):
        if obj is None or obj.pk is None:
            return True
        return scope_queryset(
            type(obj)._default_manager.filter(pk=obj.pk), request.tenant, self.tenant_field
        ).exists()

    # --- rows -------------------------------------------------------------------------------
    def get_queryset(self, request):
        return scope_queryset(super().get_queryset(request), admin_tenant(request), self.tenant_field)

    def get_object(self, request, object_id, from_field=None):
        # Another tenant's object (or none at all) is a 404 on change, history and delete pages,
        # not Django's redirect to the index, which would tell "exists elsewhere" apart.
        obj = super().get_object(request, object_id, from_field)
        if obj is None:
            raise Http404
        return obj

    def get_search_results(self, request, queryset, search_term):
        # Searching spans relations (user__email); the base queryset is already scoped, and
        # scoping once more keeps any join the search adds inside the tenant too.
        queryset, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        return (
            scope_queryset(queryset, admin_tenant(request), self.tenant_field),
            may_have_duplicates,
        )

    # --- forms ------------------------------------------------------------------------------
    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        formfield = super().formfield_for_foreignkey(db_field, request, **kwargs)
        self._scope_choices(formfield, request)
        return formfield

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        formfield = super().formfield_for_manytomany(db_field, request, **kwargs)
        self._scope_choices(formfield, request)
        return formfield

    def _scope_choices(self, formfield, request):
        if formfield is not None and hasattr(formfield, "queryset"):
            formfield.queryset = scope_queryset(formfield.queryset, admin_tenant(request))

    def _direct_tenant_field(self):
        return self.tenant_field if "__" not in self.tenant_field and self.tenant_field != "pk" else None

    def get_exclude(self, request, obj=None):
        exclude = list(super().get_exclude(request, obj) or [])
        if not is_platform_admin(request):
            direct = self._direct_tenant_field()
            exclude += [f for f in (direct, *self.platform_only_fields) if f]
        return exclude

    def get_fields(self, request, obj=None):
        fields = list(super().get_fields(request, obj))
        if is_platform_admin(request):
            return fields
        hidden = set(self.get_exclude(request, obj))
        return [f for f in fields if f not in hidden]

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        if not is_platform_admin(request):
            hidden = set(self.get_exclude(request, obj))
            readonly = [f for f in readonly if f not in hidden]
        return readonly

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if is_platform_admin(request):
            return fieldsets
        hidden = set(self.get_exclude(request, obj))
        return [
            (name, {**opts, "fields": [f for f in opts["fields"] if f not in hidden]})
            for name, opts in fieldsets
        ]

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        tenant = admin_tenant(request)
        field = self._direct_tenant_field()
        if tenant is None or field is None:
            return form

        class TenantBoundForm(form):
            # The tenant is set before validation, so model.clean() sees it, and the unique
            # constraints that include it are checked (validate_unique below).
            def __init__(self, *args, **kw):
                super().__init__(*args, **kw)
                setattr(self.instance, field, tenant)

            def validate_unique(self):
                super().validate_unique()
                validate_unique_in_tenant(self, field)

        TenantBoundForm.__name__ = form.__name__
        return TenantBoundForm

    def save_model(self, request, obj, form, change):
        tenant = admin_tenant(request)
        field = self._direct_tenant_field()
        if tenant is not None and field is not None:
            setattr(obj, field, tenant)
        super().save_model(request, obj, form, change)

    # --- query parameters -------------------------------------------------------------------
    def lookup_allowed(self, lookup, value, request=None):
        # Anything else is DisallowedModelAdminLookup (400), for every kind of admin. Search
        # (q), sorting (o: shown columns only) and paging are not lookups and never come here.
        return lookup in self.offered_lookups(request)

    def offered_lookups(self, request):
        """The query parameters this list's filters and date drill-down read, and no others."""
        offered = set()
        if self.date_hierarchy:
            offered |= {f"{self.date_hierarchy}__{part}" for part in ("year", "month", "day")}
        entries = self.get_list_filter(request) if request is not None else self.list_filter
        for entry in entries:
            if isinstance(entry, type) and issubclass(entry, admin.SimpleListFilter):
                offered.add(entry.parameter_name)
            elif isinstance(entry, str):
                offered |= self._field_filter_parameters(entry, None)
            elif isinstance(entry, list | tuple):
                offered |= self._field_filter_parameters(*entry)
        return offered

    def _field_filter_parameters(self, path, filter_class):
        """What Django's field list filters read (admin/filters.py), from the field's kind."""
        if filter_class is not None and issubclass(filter_class, admin.EmptyFieldListFilter):
            return {f"{path}__isempty"}
        field = get_fields_from_path(self.model, path)[-1]
        if field.is_relation:  # RelatedFieldListFilter and RelatedOnlyFieldListFilter
            return {f"{path}__{field.target_field.name}__exact", f"{path}__isnull"}
        if isinstance(field, models.DateField):  # DateFieldListFilter
            return {f"{path}__gte", f"{path}__lt", f"{path}__isnull"}
        # Boolean, Choices (path__exact) and AllValues (path itself) filters.
        return {path, f"{path}__exact", f"{path}__isnull"}

    # --- list filters -----------------------------------------------------------------------
    def get_list_filter(self, request):
        filters = []
        for entry in super().get_list_filter(request):
            if isinstance(entry, str) and self._is_relation(entry):
                # Only related rows that occur in the (scoped) list, never every user/tenant.
                entry = (entry, admin.RelatedOnlyFieldListFilter)
            filters.append(entry)
        if is_platform_admin(request) and self.tenant_field != "pk":
            filters.append((self.tenant_field, admin.RelatedOnlyFieldListFilter))
        return filters

    def _is_relation(self, path):
        model = self.model
        field = None
        for part in path.split("__"):
            try:
                field = model._meta.get_field(part)
            except Exception:  # noqa: BLE001 - a lookup, not a field
                return False
            if not field.is_relation:
                return False
            model = field.related_model
        return isinstance(field, models.ForeignKey | models.OneToOneField | models.ManyToManyField)


class ReadOnlyScopedAdmin(TenantScopedAdmin):
    """Viewable within the tenant, never added, changed or deleted here (not even by superusers)."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class TenantScopedInline(admin.TabularInline):
    """Inlines follow their parent's permissions; org admins see their tenant's rows only."""

    tenant_field = "tenant"

    def get_queryset(self, request):
        return scope_queryset(super().get_queryset(request), admin_tenant(request), self.tenant_field)

    def has_view_permission(self, request, obj=None):
        return is_platform_admin(request)

    def has_add_permission(self, request, obj=None):
        return is_platform_admin(request)

    def has_change_permission(self, request, obj=None):
        return is_platform_admin(request)

    def has_delete_permission(self, request, obj=None):
        return is_platform_admin(request)
