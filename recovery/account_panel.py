"""The security info summary on My account (accounts.home's panel registry): each method, when it
was added and last used, and the user's registration status, read through recovery.status."""

from django.urls import reverse

from . import services
from .status import METHOD_FLAGS, registration_status


def _device(user, method):
    """The method's first confirmed device: when it was added, when last used."""
    _flag, device_model = METHOD_FLAGS[method]
    return device_model.objects.filter(user=user, confirmed=True).order_by("created_at").first()


def security_info_summary(request):
    user = request.user
    if user.tenant_id is None:
        return None  # platform operators register no recovery methods
    status = registration_status(user)
    rows = []
    # The request's tenant comes loaded with its policy (the host look-up): no query for it.
    tenant = getattr(request, "tenant", None)
    tenant = tenant if tenant is not None and tenant.pk == user.tenant_id else user.tenant
    offered = set(tenant.policy.enabled_methods) | status.methods
    for method, label in services.METHOD_LABELS.items():
        if method not in offered:
            continue
        device = _device(user, method) if method in status.methods else None
        rows.append({
            "label": label, "registered": method in status.methods,
            "since": getattr(device, "created_at", None),
            "last_used": getattr(device, "last_used_at", None),
        })
    return {"status": status, "methods": rows, "url": reverse("recovery_security_info")}


def register():
    from accounts.home import register_panel

    register_panel("security_info", order=10, template="recovery/home/security_info.html",
                   context=security_info_summary)
