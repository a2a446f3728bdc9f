"""Which tenant a request belongs to, from its host name.

Looked up once per host and kept in-process for a short while: every request needs it, and it
changes rarely. Saving a tenant, host or policy clears this process's copy at once (signals);
other web nodes see the change within HOST_CACHE_SECONDS.
"""

import time

from django.conf import settings
from django.http.request import split_domain_port

from .models import TenantHost

HOST_CACHE_SECONDS = 30
PLATFORM = object()  # the host is the platform's own (no tenant)
_cache: dict[str, tuple[float, object]] = {}


def normalise_host(raw_host: str) -> str:
    domain, _port = split_domain_port(raw_host or "")
    return domain.lower().rstrip(".")


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
            TenantHost.objects.select_related("tenant", "tenant__policy")
            .filter(host=host)
            .first()
        )
        result = entry.tenant if entry else None
    _cache[host] = (now + HOST_CACHE_SECONDS, result)
    return result


def clear_cache():
    _cache.clear()


def site_url(host: str, path: str = "/") -> str:
    """Absolute URL on one of the portal's hosts, for links made outside a request (e-mails)."""
    scheme = "https" if settings.PRODUCTION else "http"
    port = settings.PORTAL_PUBLIC_PORT
    return f"{scheme}://{host}{':' + str(port) if port else ''}{path}"


def tenant_url(tenant, path: str = "/") -> str:
    """Absolute URL on a tenant's primary host."""
    return site_url(tenant.primary_host, path)


def platform_url(path: str = "/") -> str:
    """Absolute URL on the platform's host, where platform operators (no tenant) sign in."""
    return site_url(settings.PLATFORM_HOSTS[0], path)
