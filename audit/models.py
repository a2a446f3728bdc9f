from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tenants.scoping import TenantScopedManager


class AuditEvent(models.Model):
    """Who did what, when, from where. Never holds a secret, an answer or a code."""

    tenant = models.ForeignKey(
        "tenants.Tenant", on_delete=models.CASCADE, null=True, blank=True,
        related_name="audit_events", verbose_name=_("organisation"),
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
        related_name="audit_events", verbose_name=_("user"),
    )
    # The kinds are listed in audit.KINDS (kept out of the schema: no migration per kind).
    kind = models.CharField(_("event"), max_length=64)
    created_at = models.DateTimeField(_("time"), default=timezone.now)
    ip_address = models.GenericIPAddressField(_("client address"), null=True, blank=True)
    user_agent = models.CharField(_("user agent"), max_length=300, blank=True)
    data = models.JSONField(_("details"), default=dict, blank=True)

    objects = TenantScopedManager("tenant")

    class Meta:
        # The table the accounts app created: the model moved, its rows stayed (migrations).
        db_table = "accounts_auditevent"
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["tenant", "-created_at"]),
            models.Index(fields=["tenant", "kind", "-created_at"]),
            models.Index(fields=["user", "-created_at"]),
        ]

    def __str__(self):
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.kind}"
