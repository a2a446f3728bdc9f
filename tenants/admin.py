from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext_lazy as _

from . import signing_keys
from .admin_scoping import TenantScopedAdmin, TenantScopedInline, admin_tenant
from .models import Tenant, TenantHost, TenantPolicy, TenantSigningKey


class TenantHostInline(TenantScopedInline):
    model = TenantHost
    extra = 1


class SigningKeyInline(TenantScopedInline):
    """The tenant's SSO signing keys by key ID, for platform operators: never the private key."""

    model = TenantSigningKey
    fields = readonly_fields = ("kid", "created_at", "retire_at", "state")
    extra = 0
    can_delete = False

    def get_queryset(self, request):
        return super().get_queryset(request).published()

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description=_("state"))
    def state(self, key):
        if key.retire_at is None:
            return _("signs new ID tokens")
        return _("replaced: published until tokens it signed expire")


@admin.register(Tenant)
class TenantAdmin(TenantScopedAdmin):
    """Platform operators create tenants; an org admin sees their own one, read-only."""

    tenant_field = "pk"
    org_admin_can_add = org_admin_can_change = org_admin_can_delete = False
    list_display = ("name", "slug", "is_active", "primary_host", "created_at")
    search_fields = ("name", "slug")
    inlines = [TenantHostInline, SigningKeyInline]
    actions = ["rotate_signing_key"]

    @admin.display(description=_("host name"))
    def primary_host(self, tenant):
        return tenant.primary_host

    @admin.action(description=_("Rotate the SSO signing key"), permissions=["change"])
    def rotate_signing_key(self, request, queryset):
        # Platform operators only (org admins cannot change their tenant here).
        for tenant in queryset:
            key = signing_keys.rotate_signing_key(tenant)
            until = timezone.localtime(key.created_at + signing_keys.retirement_delay())
            self.message_user(request, _(
                "%(tenant)s: new signing key %(kid)s. The previous key stays published until "
                "%(time)s, for the ID tokens it signed."
            ) % {"tenant": tenant, "kid": key.kid, "time": date_format(until, "SHORT_DATETIME_FORMAT")},
                messages.SUCCESS)


@admin.register(TenantPolicy)
class TenantPolicyAdmin(TenantScopedAdmin):
    org_admin_can_add = org_admin_can_delete = False
    list_display = ("__str__",)
    search_fields = ("tenant__name", "tenant__slug")
    fieldsets = [
        (None, {"fields": ["tenant"]}),
        (_("Recovery methods"), {"fields": [
            "questions_enabled", "authenticator_enabled", "questions_to_register",
            "questions_to_answer", "methods_required_for_reset",
        ]}),
        (_("Registration prompt and reminders"), {"fields": [
            "nudge_enabled", "skip_allowed", "reconfirm_days", "reminders_enabled",
            "reminder_interval_hours",
        ]}),
        (_("Sign-in and passwords"), {"fields": [
            "mfa_required", "min_password_length", "reset_lock_threshold", "reset_lock_minutes",
        ]}),
    ]

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        # A policy belongs to its tenant for good (one-to-one, made with the tenant).
        return readonly + ["tenant"] if obj is not None and admin_tenant(request) is None else readonly

    def has_add_permission(self, request):
        return False  # every tenant gets its policy when it is created

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        tenant = admin_tenant(request)
        if tenant is not None:
            # An org admin has exactly one policy: go straight to it.
            return HttpResponseRedirect(
                reverse("admin:tenants_tenantpolicy_change", args=[tenant.policy.pk])
            )
        return super().changelist_view(request, extra_context)
