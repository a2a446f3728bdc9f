"""Absolute URLs of the portal, as the public reaches it (scheme and public port)."""

from django.conf import settings

DEFAULT_PORTS = {"http": "80", "https": "443"}


def public_port(scheme: str) -> str:
    """The port the portal's public URLs name: PORTAL_PUBLIC_PORT, unless the scheme's default."""
    port = str(settings.PORTAL_PUBLIC_PORT or "")
    return "" if port == DEFAULT_PORTS.get(scheme) else port


def public_url(host: str, path: str = "/") -> str:
    """Absolute URL on one of the portal's hosts, as the public reaches it."""
    scheme = "https" if settings.PRODUCTION else "http"
    port = public_port(scheme)
    return f"{scheme}://{host}{':' + port if port else ''}{path}"
