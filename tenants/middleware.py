from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.http import HttpResponseForbidden, HttpResponseNotFound
from django.template.loader import render_to_string

from .resolution import PLATFORM, canonical_host, normalise_host, resolve_host
from .scoping import platform_scope, tenant_scope


class CanonicalHostMiddleware:
    """Give every later reader of the host one spelling of it, or refuse the request (400).

    Tenants, allauth (its site, its failed sign-in key), the OIDC issuer, CSRF's origin check
    and redirects all start from request.get_host(); read raw, "DEMO.localhost.:80" and
    "demo.localhost" were two of each. Before SecurityMiddleware, so its HTTPS redirect too.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        # get_host() takes X-Forwarded-Host instead of Host when USE_X_FORWARDED_HOST is on,
        # and enforces ALLOWED_HOSTS (DisallowedHost → 400).
        raw_host = request.get_host()
        host = canonical_host(raw_host, request.scheme)
        if host is None:
            raise DisallowedHost(
                f"Invalid HTTP_HOST header: {raw_host!r}. Its port is not served here "
                f"(PORTAL_PUBLIC_PORT={settings.PORTAL_PUBLIC_PORT!r}; empty: the default port only)."
            )
        request.META["HTTP_HOST"] = host
        # Nothing later may read the forwarded host raw either (get_host() would prefer it).
        request.META.pop("HTTP_X_FORWARDED_HOST", None)
        return self.get_response(request)


class TenantMiddleware:
    """Put request.tenant on every request; unknown hosts get a plain 404, never a page.

    request.tenant is None on the platform host (where only superusers sign in).

    The rest of the request runs in the tenant's scope (tenants.scoping): every query of tenant
    data sees this tenant's rows only. On the platform host the platform's scope: the rows of no
    tenant (its operators), unless a platform superuser's admin deliberately asks for all.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        # The canonical host (CanonicalHostMiddleware), without its port.
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
        with platform_scope() if request.tenant is None else tenant_scope(request.tenant):
            return self.get_response(request)
