from django import forms
from django.contrib import admin
from django.db.models import F
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from tenants.branding import LogoError, logo_png
from tenants.models import Tenant, TenantBranding, TenantHost, TenantPolicy

from ..scoping import TenantScopedAdmin, TenantScopedInline, admin_tenant


class TenantHostInline(TenantScopedInline):
    model = TenantHost
    extra = 1


@admin.register(Tenant)
class TenantAdmin(TenantScopedAdmin):
    """Platform operators create tenants; an org admin sees their own one, read-only."""

    tenant_field = "pk"
    org_admin_can_add = org_admin_can_change = org_admin_can_delete = False
    list_display = ("name", "slug", "is_active", "primary_host", "created_at")
    search_fields = ("name", "slug")
    inlines = [TenantHostInline]  # console.admin.sso adds the signing keys

    @admin.display(description=_("host name"))
    def primary_host(self, tenant):
        return tenant.primary_host


@admin.register(TenantPolicy)
class TenantPolicyAdmin(TenantScopedAdmin):
    org_admin_can_add = org_admin_can_delete = False
    list_display = ("__str__",)
    search_fields = ("tenant__name", "tenant__slug")
    fieldsets = [
        (None, {"fields": ["tenant"]}),
        (_("Recovery methods"), {"fields": [
            "questions_enabled", "authenticator_enabled", "recovery_codes_enabled", "questions_to_register",
            "questions_to_answer", "methods_required_for_reset",
        ]}),
        (_("Registration prompt and reminders"), {"fields": [
            "nudge_enabled", "skip_allowed", "reconfirm_days", "reminders_enabled",
            "reminder_interval_hours",
        ]}),
        (_("Sign-in and passwords"), {"fields": [
            "mfa_required", "min_password_length", "reset_lock_threshold", "reset_lock_minutes",
            "reset_challenge_threshold", "time_zone", "helpdesk_text",
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


class BrandingForm(forms.ModelForm):
    logo = forms.FileField(
        label=_("Logo"), required=False,
        help_text=_("PNG, JPEG, GIF or WebP, up to 512 KB; shown at most 480 × 160 pixels."),
        widget=forms.ClearableFileInput(attrs={"accept": "image/png,image/jpeg,image/gif,image/webp"}),
    )
    remove_logo = forms.BooleanField(label=_("Remove the logo"), required=False)

    class Meta:
        model = TenantBranding
        fields = ["accent_colour", "sign_in_text"]
        widgets = {"accent_colour": forms.TextInput(attrs={"type": "color"})}

    def clean_logo(self):
        uploaded = self.cleaned_data.get("logo")
        if not uploaded:
            return None
        try:
            return logo_png(uploaded)
        except LogoError as exc:
            raise forms.ValidationError(str(exc)) from exc


@admin.register(TenantBranding)
class TenantBrandingAdmin(TenantScopedAdmin):
    """Org admins brand their own organisation's pages and e-mails (one branding per tenant)."""

    form = BrandingForm
    org_admin_can_add = org_admin_can_delete = False
    list_display = ("__str__", "accent_colour")
    search_fields = ("tenant__name", "tenant__slug")
    fields = ["logo_preview", "logo", "remove_logo", "accent_colour", "sign_in_text"]
    readonly_fields = ["logo_preview"]

    @admin.display(description=_("Current logo"))
    def logo_preview(self, branding):
        from django.utils.html import format_html

        if not branding.has_logo:
            return _("None")
        return format_html('<img src="{}" alt="">', reverse("tenant_logo")
                           + f"?v={branding.logo_version}")

    def save_model(self, request, obj, form, change):
        picture = form.cleaned_data.get("logo")
        if picture:
            obj.logo_png = picture
            obj.logo_version = F("logo_version") + 1
        elif form.cleaned_data.get("remove_logo"):
            obj.logo_png = None
            obj.logo_version = 0
        super().save_model(request, obj, form, change)
        obj.refresh_from_db(fields=["logo_version"])

    def has_add_permission(self, request):
        return False  # every tenant gets its branding when it is created

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        tenant = admin_tenant(request)
        if tenant is not None:
            branding, _created = TenantBranding.objects.get_or_create(tenant=tenant)
            return HttpResponseRedirect(reverse("admin:tenants_tenantbranding_change", args=[branding.pk]))
        return super().changelist_view(request, extra_context)
