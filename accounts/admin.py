from django.contrib import admin

from .models import OutboxEmail


@admin.register(OutboxEmail)
class OutboxEmailAdmin(admin.ModelAdmin):
    """Read-only: admins see what was sent and what failed (and why). Minimal until the
    tenant-scoped admin site takes it over."""

    list_display = ("created_at", "kind", "to_email", "state", "attempts", "sent_at", "last_error")
    list_filter = ("state", "kind")
    search_fields = ("to_email",)
    # The context is left out: it is rendering data, not something an admin needs to read.
    fields = ("tenant", "user", "to_email", "kind", "language", "state", "attempts",
              "last_error", "created_at", "next_attempt_at", "sent_at")
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
