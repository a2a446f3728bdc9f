from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tenants.models import Tenant
from tenants.scoping import TenantScopedManager, TenantScopedQuerySet


class TenantOIDCClient(models.Model):
    """Which tenant an OpenID Connect client (allauth's Client) belongs to.

    A client works only on its tenant's hosts and only for that tenant's users.
    """

    client = models.OneToOneField(
        "allauth_idp_oidc.Client", on_delete=models.CASCADE, primary_key=True,
        related_name="tenant_link",
    )
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="oidc_clients")
    # Who may sign in to the application (sso.access): everyone of the tenant, or only the
    # users and group members assigned to it.
    assignment_required = models.BooleanField(_("only assigned users and groups"), default=False)
    assigned_groups = models.ManyToManyField(
        "accounts.TenantGroup", blank=True, related_name="assigned_clients",
        verbose_name=_("assigned groups"),
    )
    assigned_users = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="assigned_clients",
        verbose_name=_("assigned users"),
    )

    # OpenID Connect Back-Channel Logout 1.0: where the portal POSTs a logout token when the
    # user signs out or loses access (sso.backchannel). Empty: the application is not told.
    backchannel_logout_uri = models.URLField(_("back-channel logout URI"), max_length=500, blank=True)

    objects = TenantScopedManager("tenant")

    class Meta:
        # The table it had in tenants/, where the model was first made (sso/migrations/0001).
        db_table = "tenants_tenantoidcclient"
        verbose_name = _("application (SSO client)")
        verbose_name_plural = _("applications (SSO clients)")

    def __str__(self):
        return f"{self.client_id} ({self.tenant.slug})"


class ClientAppRole(models.Model):
    """An app role of one client: members of `group` get `role` in its "roles" claim."""

    client_link = models.ForeignKey(TenantOIDCClient, on_delete=models.CASCADE, related_name="app_roles")
    group = models.ForeignKey("accounts.TenantGroup", on_delete=models.CASCADE, related_name="app_roles")
    role = models.CharField(_("role"), max_length=100)

    objects = TenantScopedManager("client_link__tenant")

    class Meta:
        verbose_name = _("app role")
        verbose_name_plural = _("app roles")
        constraints = [
            models.UniqueConstraint(fields=["client_link", "group", "role"], name="app_role_unique"),
        ]

    def __str__(self):
        return f"{self.group.name} = {self.role}"


class TenantSigningKeyQuerySet(TenantScopedQuerySet):
    def published(self):
        """Keys in the tenant's JWKS: the signing one and those retiring (not yet retired)."""
        return self.filter(models.Q(retire_at__isnull=True) | models.Q(retire_at__gt=timezone.now()))


class TenantSigningKey(models.Model):
    """An RSA key that signs one tenant's ID tokens (the portal as OpenID provider).

    The newest key signs; a replaced key stays published until `retire_at` (the ID-token
    lifetime after its replacement), so the tokens it signed still verify. Made by
    sso.signing_keys; the private key is never shown (admin, logs, command output).
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="signing_keys")
    kid = models.CharField(_("key ID"), max_length=64, unique=True, editable=False)
    private_key_pem = models.TextField(editable=False)
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)
    retire_at = models.DateTimeField(
        _("published until"), null=True, blank=True, editable=False,
        help_text=_("Empty while the key is in use; set when a newer key replaces it."),
    )

    objects = TenantScopedManager.from_queryset(TenantSigningKeyQuerySet)("tenant")

    class Meta:
        db_table = "tenants_tenantsigningkey"  # see TenantOIDCClient
        verbose_name = _("SSO signing key")
        verbose_name_plural = _("SSO signing keys")
        ordering = ["-created_at"]

    def __str__(self):
        return self.kid


class RedeemedGrant(models.Model):
    """An authorization code or a refresh token that has been exchanged at the token endpoint.

    The row is inserted in the transaction that exchanges the grant (primary key: a hash of the
    grant, never the grant itself), so of two concurrent exchanges only one commits; a grant
    presented again finds its row and the tokens of its family are revoked (RFC 6749 4.1.2,
    RFC 9700 4.14.2). `family` names every token issued from one sign-in's code and its
    refreshes (sso.oidc). Rows are purged once `keep_until` has passed (sso.tasks).
    """

    digest = models.CharField(max_length=64, primary_key=True, editable=False)
    family = models.CharField(max_length=32, editable=False)
    redeemed_at = models.DateTimeField(default=timezone.now, editable=False)
    keep_until = models.DateTimeField(db_index=True, editable=False)

    class Meta:
        verbose_name = _("redeemed SSO grant")
        verbose_name_plural = _("redeemed SSO grants")

    def __str__(self):
        return self.family


class BackchannelLogout(models.Model):
    """A logout token the portal owes an application: written in the transaction of the sign-out
    or of the event that ended the user's access, POSTed later by a Celery task (sso.backchannel),
    as outbox.OutboxEmail is for e-mail. The token is signed when sent; the row keeps its claims.
    """

    class State(models.TextChoices):
        PENDING = "pending", _("pending")
        SENT = "sent", _("sent")
        FAILED = "failed", _("failed")

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+",
                               verbose_name=_("organisation"))
    client = models.ForeignKey("allauth_idp_oidc.Client", on_delete=models.CASCADE, related_name="+",
                               verbose_name=_("application"))
    sub = models.CharField(_("user ID (sub)"), max_length=255)
    jti = models.CharField(max_length=64, unique=True)
    reason = models.CharField(_("reason"), max_length=32)
    state = models.CharField(_("state"), max_length=16, choices=State, default=State.PENDING)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    next_attempt_at = models.DateTimeField(_("next attempt"), default=timezone.now)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)

    objects = TenantScopedManager("tenant")

    class Meta:
        verbose_name = _("back-channel logout")
        verbose_name_plural = _("back-channel logouts")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["state", "next_attempt_at"])]

    def __str__(self):
        return f"{self.reason} → {self.client_id} ({self.state})"
