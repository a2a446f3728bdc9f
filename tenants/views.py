"""The tenant's logo and theme, served on its own hosts.

The logo is the portal's own PNG re-encoding (tenants.branding.logo_png); it is still served as
if it were hostile: nosniff, a sandboxing CSP, never as a page. Both URLs carry a version, so
browsers may keep them for a day and a change shows at once.
"""

from django.http import Http404, HttpResponse
from django.views.decorators.http import require_GET

from .branding import accent_of, branding_of

CACHE = "public, max-age=86400"


def _tenant(request):
    tenant = getattr(request, "tenant", None)
    if tenant is None:
        raise Http404
    return tenant


@require_GET
def logo(request):
    from .models import TenantBranding

    tenant = _tenant(request)
    if branding_of(tenant) is None:
        raise Http404
    picture = TenantBranding.objects.filter(tenant=tenant).values_list("logo_png", flat=True).first()
    if not picture:
        raise Http404
    response = HttpResponse(bytes(picture), content_type="image/png")
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Content-Disposition"] = 'inline; filename="logo.png"'
    response["Cache-Control"] = CACHE
    return response


@require_GET
def theme(request):
    """The tenant's accent colour as CSS custom properties (the CSP allows no inline style)."""
    accent = accent_of(_tenant(request))
    css = f":root {{ --accent: {accent}; --accent-contrast: #ffffff; }}\n"
    response = HttpResponse(css, content_type="text/css; charset=utf-8")
    response["Cache-Control"] = CACHE
    response["X-Content-Type-Options"] = "nosniff"
    return response
