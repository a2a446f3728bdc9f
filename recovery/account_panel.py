"""The security info summary on My account (accounts.home's panel registry): each method, when it
was added and last used, and the user's registration status, read through recovery.status."""

from django.urls import reverse

from accounts.otp import authenticator_device

from . import services
from .models import SecurityQuestionsDevice
from .status import registration_status


def _device(user, method):
    if method == services.QUESTIONS:
        return SecurityQuestionsDevice.objects.filter(user=user, confirmed=True).first()
    if method == services.AUTHENTICATOR:
        return authenticator_device(user)
    return None


def security_info_summary(request):
    user = request.user
    if user.tenant_id is None:
        return None  # platform operators register no recovery methods
    status = registration_status(user)
    rows = []
    for method, label in services.METHOD_LABELS.items():
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
