"""CSV export of a tenant's audit trail (django-import-export)."""

import json

from django.utils.translation import gettext_lazy as _
from import_export import fields, resources

from core.spreadsheet import SafeExportMixin

from .models import AuditEvent


class AuditEventResource(SafeExportMixin, resources.ModelResource):
    time = fields.Field(attribute="created_at", column_name="time")
    kind = fields.Field(attribute="kind", column_name="event")
    user = fields.Field(column_name="user")
    ip_address = fields.Field(attribute="ip_address", column_name="client address")
    details = fields.Field(column_name="details")

    class Meta:
        model = AuditEvent
        fields = ("time", "kind", "user", "ip_address", "details")

    def __init__(self, tenant=None, **kwargs):
        super().__init__()

    @classmethod
    def get_display_name(cls):
        return _("audit events")

    def dehydrate_user(self, event):
        return event.user.email if event.user_id else ""

    def dehydrate_details(self, event):
        return json.dumps(event.data, ensure_ascii=False, sort_keys=True)
