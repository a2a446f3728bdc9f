"""One way to write the audit trail. Callers pass facts, never secrets.

The package is the API (`audit.record`, `audit.KINDS`, `audit.client_ip`), as in
django.contrib.auth: what needs the app registry (the model, allauth's adapter) is imported
when called, since Django imports this package before the models are ready.
"""

from django.core.exceptions import ImproperlyConfigured, PermissionDenied
from django.utils.translation import gettext_lazy as _

KINDS = {
    "signin.succeeded": _("Signed in"),
    "signin.failed": _("Sign-in failed"),
    "signout": _("Signed out"),
    "session.foreign": _("Session of another organisation refused"),
    "session.ended": _("Signed out of a session from My account"),
    "sessions.ended_elsewhere": _("Signed out of every other session"),
    "password.changed": _("Password changed"),
    "otp.verified": _("Authenticator code verified"),
    "otp.failed": _("Authenticator code rejected"),
    "nudge.shown": _("Registration prompt shown"),
    "nudge.skipped": _("Registration skipped"),
    "method.registered": _("Recovery method registered"),
    "method.removed": _("Recovery method removed"),
    "methods.cleared_by_admin": _("Re-registration required by admin"),
    "methods.reconfirmed": _("Recovery methods re-confirmed"),
    "reset.started": _("Password reset started"),
    "reset.method_chosen": _("Reset method chosen"),
    "reset.verify_failed": _("Reset verification failed"),
    "reset.verify_passed": _("Reset verification passed"),
    "reset.locked": _("Password reset locked"),
    "reset.unlocked": _("Password reset unlocked"),
    "reset.completed": _("Password reset completed"),
    "user.created": _("User created by admin"),
    "user.deactivated": _("User deactivated by admin"),
    "users.imported": _("Users imported from CSV"),
    "sso.access_denied": _("Application refused (user not assigned)"),
}


def client_ip(request):
    """The client's address as allauth's rate limits see it (ALLAUTH_TRUSTED_PROXY_COUNT /
    TRUSTED_CLIENT_IP_HEADER), so the audit trail and the reset's per-address lock name the same
    client behind a proxy; X-Forwarded-For is trusted only that far. None when unknown."""
    if request is None:
        return None
    from allauth.account.adapter import get_adapter

    try:
        return get_adapter(request).get_client_ip(request)
    except (PermissionDenied, ImproperlyConfigured):  # no usable address, or a forged chain
        return None


def _storable(text, limit=None):
    # Headers and typed values may carry NUL, other control characters or lone surrogates,
    # which PostgreSQL refuses in text and JSON: an audit write must never fail on them.
    cleaned = "".join(char for char in str(text) if char.isprintable())
    return cleaned[:limit] if limit else cleaned


def record(kind, *, request=None, user=None, tenant=None, **data):
    from .models import AuditEvent

    if kind not in KINDS:
        raise ValueError(f"unknown audit event kind {kind!r}")
    # The id is enough: loading user.tenant cost one SELECT per sign-in (bench/README.md).
    tenant_id = tenant.pk if tenant is not None else None
    if tenant_id is None and user is not None:
        tenant_id = user.tenant_id
    if tenant_id is None and request is not None:
        request_tenant = getattr(request, "tenant", None)
        tenant_id = request_tenant.pk if request_tenant is not None else None
    return AuditEvent.objects.create(
        tenant_id=tenant_id,
        user=user if user is not None and user.pk else None,
        kind=kind,
        ip_address=client_ip(request),
        user_agent=(_storable(request.META.get("HTTP_USER_AGENT", ""), 300) if request is not None else ""),
        data={key: _storable(value) if isinstance(value, str) else value for key, value in data.items()},
    )
