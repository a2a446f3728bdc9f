from django.contrib import admin

from recovery.models import SecurityQuestion

from ..scoping import TenantScopedAdmin


@admin.register(SecurityQuestion)
class SecurityQuestionAdmin(TenantScopedAdmin):
    """An org admin manages the tenant's custom questions; the built-in bank (no tenant) is
    the platform's and never reaches an org admin's queryset."""

    fields = ("tenant", "text_ja", "text_en", "is_active", "position")
    list_display = ("text_ja", "text_en", "is_active", "position")
    list_editable = ()
    search_fields = ("text_ja", "text_en")
    autocomplete_fields = ("tenant",)
    ordering = ("tenant_id", "position", "id")
