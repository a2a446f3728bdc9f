from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, F
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext, ngettext_lazy
from import_export.admin import ExportMixin, ImportExportMixin
from import_export.forms import ImportForm

import audit
from accounts.models import TenantGroup, User
from accounts.notifications import invite_user
from accounts.services import provision_user, sync_email_address
from accounts.usersessions import end_access
from audit.models import AuditEvent
from audit.resources import AuditEventResource
from outbox.mail import retry_failed
from outbox.models import OutboxEmail
from recovery.notifications import remind_to_register
from recovery.reset import ResetUnavailable, unlock_reset
from recovery.services import require_reregistration
from recovery.status import STATUS_LABELS, with_registration_status

from ..importing import (
    IMPORT_COLUMNS,
    MAX_IMPORT_BYTES,
    ImportFileError,
    SpreadsheetCSV,
    UserResource,
)
from ..scoping import ReadOnlyScopedAdmin, TenantScopedAdmin, admin_tenant


class CSVAdminMixin:
    """CSV import/export through our spreadsheet-safe format, limited to the admin's tenant."""

    formats = [SpreadsheetCSV]
    skip_export_form = True  # the export button downloads the filtered list as CSV

    def get_resource_kwargs(self, request, *args, **kwargs):
        return {"tenant": admin_tenant(request)}

    def get_export_filename(self, request, queryset, file_format):
        return f"{self.model._meta.model_name}-{timezone.localdate():%Y-%m-%d}.csv"


# --- Users -----------------------------------------------------------------------------------

class UserForm(forms.ModelForm):
    class Meta:
        model = User
        fields = ("tenant", "email", "name", "language", "is_active", "is_staff")

    def clean_email(self):
        # Stored lower-case; cleaning first lets the uniqueness check (per tenant) see the
        # stored form.
        return (self.cleaned_data.get("email") or "").strip().lower()


class UserImportForm(ImportForm):
    def clean_import_file(self):
        upload = self.cleaned_data["import_file"]
        if upload.size > MAX_IMPORT_BYTES:
            raise ValidationError(
                _("The file is too large (%(size)s MB). The limit is %(limit)s MB.")
                % {
                    "size": f"{upload.size / 1024 / 1024:.1f}",
                    "limit": f"{MAX_IMPORT_BYTES / 1024 / 1024:.0f}",
                }
            )
        return upload


class ChoicesFilter(admin.SimpleListFilter):
    """Filter on `field` by one of `options` ({value: label}); any other value filters nothing."""

    options = {}
    field = ""

    def lookups(self, request, model_admin):
        return list(self.options.items())

    def queryset(self, request, queryset):
        if self.value() in self.options:
            return queryset.filter(**{self.field: self.value()})
        return queryset


class RegistrationStateFilter(ChoicesFilter):
    title = _("registration")
    parameter_name = "registration"
    options = STATUS_LABELS
    field = "registration_status"


class MethodFilter(admin.SimpleListFilter):
    annotation = ""

    def lookups(self, request, model_admin):
        return [("yes", _("Yes")), ("no", _("No"))]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(**{self.annotation: self.value() == "yes"})
        return queryset


class QuestionsFilter(MethodFilter):
    title = _("security questions registered")
    parameter_name = "questions"
    annotation = "has_questions"


class AuthenticatorFilter(MethodFilter):
    title = _("authenticator app registered")
    parameter_name = "authenticator"
    annotation = "has_authenticator"


class RecoveryCodesFilter(MethodFilter):
    title = _("recovery codes registered")
    parameter_name = "recovery_codes"
    annotation = "has_recovery_codes"


@admin.register(User)
class UserAdmin(CSVAdminMixin, ImportExportMixin, TenantScopedAdmin):
    form = UserForm
    fieldsets = [
        (None, {"fields": ["tenant", "email", "name", "language"]}),
        (_("Access"), {"fields": ["is_active", "is_staff"]}),
        (_("Activity"), {"fields": ["last_login", "date_joined"]}),
    ]
    readonly_fields = ("last_login", "date_joined")
    autocomplete_fields = ("tenant",)
    list_display = (
        "email", "name", "is_active", "is_staff", "registration", "questions_registered",
        "authenticator_registered", "recovery_codes_registered", "skips", "last_login", "last_reset",
    )
    list_filter = (
        RegistrationStateFilter, QuestionsFilter, AuthenticatorFilter, RecoveryCodesFilter,
        "is_active", "is_staff",
    )
    search_fields = ("email", "name")
    ordering = ("email",)
    list_per_page = 100
    # "N of M selected" would count the whole tenant on every page: bench/scale.py showed it grow.
    show_full_result_count = False
    actions = ("require_reregistration", "unlock_reset", "send_reminder", "deactivate")
    org_admin_can_delete = False  # deactivate instead: the audit trail keeps the person
    resource_classes = [UserResource]
    import_form_class = UserImportForm
    import_template_name = "admin/accounts/user/import.html"

    def get_queryset(self, request):
        return with_registration_status(super().get_queryset(request)).annotate(
            skip_count=F("recovery__skip_count"), last_reset_at=F("recovery__last_reset_at"),
        )

    @admin.display(description=_("Registration"), ordering="registration_status")
    def registration(self, user):
        return STATUS_LABELS[user.registration_status]

    @admin.display(boolean=True, description=_("Questions ✓"), ordering="has_questions")
    def questions_registered(self, user):
        return user.has_questions

    @admin.display(boolean=True, description=_("App ✓"), ordering="has_authenticator")
    def authenticator_registered(self, user):
        return user.has_authenticator

    @admin.display(boolean=True, description=_("Codes ✓"), ordering="has_recovery_codes")
    def recovery_codes_registered(self, user):
        return user.has_recovery_codes

    @admin.display(description=_("Skipped"), ordering="skip_count")
    def skips(self, user):
        return user.skip_count or 0

    @admin.display(description=_("Last reset"), ordering="last_reset_at")
    def last_reset(self, user):
        return user.last_reset_at

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            if "email" in form.changed_data:
                sync_email_address(obj)
            return
        # New users are provisioned like every other account, then invited to set a password.
        tenant = admin_tenant(request) or form.cleaned_data.get("tenant")
        user = provision_user(
            tenant=tenant, email=obj.email, name=obj.name, language=obj.language,
            is_active=obj.is_active, is_staff=obj.is_staff,
        )
        obj.pk, obj.password, obj.tenant = user.pk, user.password, user.tenant
        obj._state.adding = False
        invite_user(user)
        audit.record("user.created", request=request, user=user, actor=request.user.email)

    # --- actions ----------------------------------------------------------------------------
    def _for_each_user(self, request, users, act, message):
        """Run act(user) for each selected user, then say how many (message: ngettext_lazy)."""
        users = list(users)
        for user in users:
            act(user)
        self.message_user(request, message % {"count": len(users)})

    @admin.action(description=_("Require re-registration (removes the recovery methods)"))
    def require_reregistration(self, request, queryset):
        self._for_each_user(
            request, queryset,
            lambda user: require_reregistration(user, actor=request.user, request=request),
            ngettext_lazy(
                "%(count)d user must register again.", "%(count)d users must register again.",
                "count",
            ),
        )

    @admin.action(description=_("Unlock password reset"))
    def unlock_reset(self, request, queryset):
        try:
            self._unlock_each(request, queryset)
        except ResetUnavailable:
            self.message_user(request, _(
                "The reset counters cannot be reached right now. Try again in a moment."
            ), messages.ERROR)

    def _unlock_each(self, request, queryset):
        self._for_each_user(
            request, queryset,
            lambda user: unlock_reset(user, actor=request.user, request=request),
            ngettext_lazy(
                "Password reset unlocked for %(count)d user.",
                "Password reset unlocked for %(count)d users.", "count",
            ),
        )

    @admin.action(description=_("Send a registration reminder now"))
    def send_reminder(self, request, queryset):
        self._for_each_user(
            request, queryset.filter(is_active=True), remind_to_register,
            ngettext_lazy(
                "A reminder was sent to %(count)d user.", "A reminder was sent to %(count)d users.",
                "count",
            ),
        )

    @admin.action(description=_("Deactivate"))
    def deactivate(self, request, queryset):
        if queryset.filter(pk=request.user.pk).exists():
            self.message_user(request, _("You cannot deactivate yourself."), messages.ERROR)
        users = list(queryset.filter(is_active=True).exclude(pk=request.user.pk))
        with transaction.atomic():
            User.objects.filter(pk__in=[u.pk for u in users]).update(is_active=False)
            for user in users:
                end_access(user, reason="deactivated")
                audit.record("user.deactivated", request=request, user=user, actor=request.user.email)
        self.message_user(request, ngettext(
            "%(count)d user was deactivated.", "%(count)d users were deactivated.", len(users),
        ) % {"count": len(users)})

    # --- import -----------------------------------------------------------------------------
    def get_import_context_data(self, **kwargs):
        return {
            **super().get_import_context_data(**kwargs),
            "import_columns": ",".join(IMPORT_COLUMNS),
            "language_codes": ", ".join(code for code, _name in settings.LANGUAGES),
        }

    def has_import_permission(self, request):
        # Imports belong to a tenant: its own admins run them on its host.
        return admin_tenant(request) is not None and self.has_add_permission(request)

    def get_import_data_kwargs(self, request=None, form=None, **kwargs):
        # The confirmed import rolls back as a whole if any row fails (the data may have
        # changed since the preview).
        return {**kwargs, "rollback_on_validation_errors": True, "request": request}

    def add_data_read_fail_error_to_form(self, form, exc):
        if isinstance(exc, ImportFileError):
            form.add_error("import_file", str(exc))
        else:
            form.add_error("import_file", _("The file could not be read as CSV."))

    def process_result(self, result, request):
        if result.has_errors() or result.has_validation_errors():
            return self._nothing_imported(request)
        return super().process_result(result, request)

    def process_import(self, request, *args, **kwargs):
        # The confirmation names the preview's temporary file: a forged, expired or already
        # used name is "nothing imported", not a 500.
        try:
            return super().process_import(request, *args, **kwargs)
        except OSError:
            return self._nothing_imported(request)

    def _nothing_imported(self, request):
        messages.error(request, _(
            "Nothing was imported: the file changed or has errors. Check it and try again."
        ))
        return HttpResponseRedirect(reverse("admin:accounts_user_import"))


# --- Groups ----------------------------------------------------------------------------------

class TenantGroupForm(forms.ModelForm):
    class Meta:
        model = TenantGroup
        # "members" comes from the admin's fields: its choices are built per request, in the
        # request's tenant scope (tenants.scoping), never once at import with no scope.
        fields = ("tenant", "name", "description")

    def clean(self):
        cleaned = super().clean()
        # The member choices are the admin's tenant's users (TenantScopedAdmin); a platform
        # operator picks the tenant, and the members must be of that one too.
        tenant = cleaned.get("tenant") or getattr(self.instance, "tenant", None)
        members = cleaned.get("members")
        if tenant is not None and members is not None and members.exclude(tenant=tenant).exists():
            self.add_error("members", _("Members must be users of the group's organisation."))
        return cleaned


@admin.register(TenantGroup)
class TenantGroupAdmin(TenantScopedAdmin):
    """A tenant's groups: named in the "groups" claim, mapped to app roles, assigned to apps."""

    form = TenantGroupForm
    fields = ("tenant", "name", "description", "members")
    filter_horizontal = ("members",)
    list_display = ("name", "description", "member_count")
    search_fields = ("name",)
    ordering = ("name",)

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(member_total=Count("members"))

    @admin.display(description=_("members"), ordering="member_total")
    def member_count(self, group):
        return group.member_total


# --- Audit log -------------------------------------------------------------------------------

class KindFilter(ChoicesFilter):
    title = _("event")
    parameter_name = "kind"
    options = audit.KINDS
    field = "kind"


@admin.register(AuditEvent)
class AuditEventAdmin(CSVAdminMixin, ExportMixin, ReadOnlyScopedAdmin):
    """The audit trail is evidence: nobody, not even a superuser, edits it here."""

    list_display = ("created_at", "kind_label", "user", "ip_address", "data")
    list_filter = (KindFilter, ("created_at", admin.DateFieldListFilter), "user")
    list_select_related = ("user",)
    search_fields = ("user__email", "kind")
    date_hierarchy = "created_at"
    resource_classes = [AuditEventResource]

    @admin.display(description=_("event"), ordering="kind")
    def kind_label(self, event):
        return audit.KINDS.get(event.kind, event.kind)


# --- Outgoing e-mail -------------------------------------------------------------------------

@admin.register(OutboxEmail)
class OutboxEmailAdmin(ReadOnlyScopedAdmin):
    list_display = ("created_at", "kind", "to_email", "state", "attempts", "next_attempt_at", "sent_at")
    list_filter = ("state", "kind")
    search_fields = ("to_email",)
    # The context may carry an invitation link: not for display.
    exclude = ("context",)
    actions = ("retry",)

    @admin.action(description=_("Retry the selected failed e-mails"))
    def retry(self, request, queryset):
        count = retry_failed(queryset)
        self.message_user(request, ngettext(
            "%(count)d e-mail will be sent again.", "%(count)d e-mails will be sent again.", count,
        ) % {"count": count})
