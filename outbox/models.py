from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tenants.scoping import TenantScopedManager


class OutboxEmail(models.Model):
    """An e-mail the portal owes: written with the event that causes it, delivered later."""

    class State(models.TextChoices):
        PENDING = "pending", _("pending")
        SENT = "sent", _("sent")
        FAILED = "failed", _("failed")
        CANCELLED = "cancelled", _("cancelled (no longer needed)")

    tenant = models.ForeignKey(
        "tenants.Tenant", on_delete=models.CASCADE, null=True, blank=True,
        related_name="outbox", verbose_name=_("organisation"),
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
        related_name="outbox", verbose_name=_("user"),
    )
    to_email = models.EmailField(_("recipient"))
    # One of outbox.kinds; the app that owns a kind registers its link and rules there.
    kind = models.CharField(_("kind"), max_length=64)
    language = models.CharField(_("language"), max_length=8, default=settings.LANGUAGE_CODE)
    context = models.JSONField(_("context"), default=dict, blank=True)
    state = models.CharField(_("state"), max_length=16, choices=State, default=State.PENDING)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    next_attempt_at = models.DateTimeField(_("next attempt"), default=timezone.now)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)
    # Set for e-mails that must exist once per period (the weekly digest): a second run of the
    # periodic task finds the row already there.
    dedupe_key = models.CharField(max_length=200, null=True, blank=True, unique=True, editable=False)

    objects = TenantScopedManager("tenant")

    class Meta:
        # The table the accounts app created: the model moved, its rows stayed (migrations).
        db_table = "accounts_outboxemail"
        verbose_name = _("outgoing e-mail")
        verbose_name_plural = _("outgoing e-mails")
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["state", "next_attempt_at"]),
            models.Index(fields=["user", "kind", "-created_at"]),
        ]

    def __str__(self):
        return f"{self.kind} → {self.to_email} ({self.state})"
