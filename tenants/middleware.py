from django.http import HttpResponseForbidden, HttpResponseNotFound
from django.template.loader import render_to_string

from .resolution import PLATFORM, normalise_host, resolve_host


class TenantMiddleware:
    """Put request.tenant on every request; unknown hosts get a plain 404, never a page.

    request.tenant is None on the platform host (where only superusers sign in).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        # get_host() also enforces ALLOWED_HOSTS (DisallowedHost → 400).
        host = normalise_host(request.get_host())
        tenant = resolve_host(host)
        if tenant is None:
            return HttpResponseNotFound(
                "Not Found", content_type="text/plain; charset=utf-8"
            )
        request.tenant = None if tenant is PLATFORM else tenant
        request.is_platform_host = tenant is PLATFORM
        if request.tenant is not None and not request.tenant.is_active:
            # Before LocaleMiddleware runs, so the page carries both languages.
            return HttpResponseForbidden(
                render_to_string("tenants/disabled.html", {"tenant": request.tenant}),
            )
        return self.get_response(request)
