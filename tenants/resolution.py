"""Which tenant a request belongs to, from its host name, read in one canonical spelling.

canonical_host() is the one spelling of a request's host (CanonicalHostMiddleware puts it back
on the request for every later reader). The tenant is looked up once per host and kept
in-process for a short while: every request needs it, and it changes rarely. Saving a tenant,
host or policy clears this process's copy at once (signals); other web nodes see the change
within app_settings.HOST_CACHE_SECONDS.
"""

import time

from django.conf import settings
from django.http.request import split_domain_port

from core.sites import DEFAULT_PORTS, public_port, public_url

from . import app_settings
from .models import TenantHost

PLATFORM = object()  # the host is the platform's own (no tenant)
_cache: dict[str, tuple[float, object]] = {}


def normalise_host(raw_host: str) -> str:
    domain, _port = split_domain_port(raw_host or "")
    return domain.lower().rstrip(".")


def canonical_host(raw_host: str, scheme: str) -> str | None:
    """The one spelling of a request's host: lower case, no trailing dot, the public port.

    None when the host names a port that is neither the scheme's default nor
    PORTAL_PUBLIC_PORT: nothing listens there for the public, so such a request is forged.
    """
    domain, port = split_domain_port(raw_host or "")
    domain = domain.rstrip(".")
    accepted = ("", DEFAULT_PORTS.get(scheme), str(settings.PORTAL_PUBLIC_PORT or ""))
    if not domain or port not in accepted:
        return None
    port = public_port(scheme)
    return f"{domain}:{port}" if port else domain


def resolve_host(host: str):
    """Return the Tenant for host, PLATFORM for a platform host, or None for an unknown host."""
    now = time.monotonic()
    cached = _cache.get(host)
    if cached and cached[0] > now:
        return cached[1]
    if host in settings.PLATFORM_HOSTS:
        result = PLATFORM
    else:
        entry = (
            TenantHost.objects.select_related("tenant", "tenant__policy", "tenant__branding")
            .defer("tenant__branding__logo_png")  # served by its own view, not kept per request
            .filter(host=host)
            .first()
        )
        result = entry.tenant if entry else None
    _cache[host] = (now + app_settings.HOST_CACHE_SECONDS, result)
    return result


def clear_cache():
    _cache.clear()


def tenant_url(tenant, path: str = "/") -> str:
    """Absolute URL on a tenant's primary host: its canonical URL (e-mail links, OIDC issuer)."""
    return public_url(tenant.primary_host, path)
