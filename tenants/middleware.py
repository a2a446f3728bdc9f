import logging
from importlib import import_module

from django.conf import settings
from django.contrib import auth
from django.core.cache import cache
from django.core.exceptions import DisallowedHost
from django.http import HttpResponseForbidden, HttpResponseNotFound
from django.template.loader import render_to_string
from django.utils.crypto import salted_hmac

import audit
from accounts.backends import user_belongs_to_request

from .resolution import PLATFORM, canonical_host, normalise_host, resolve_host


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

log = logging.getLogger(__name__)


class TenantMiddleware:
    """Put request.tenant on every request; unknown hosts get a plain 404, never a page.

    request.tenant is None on the platform host (where only superusers sign in).
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
        return self.get_response(request)


# The session's owner: the tenant's id, or PLATFORM_SESSION for the platform host.
SESSION_TENANT_KEY = "portal_session_tenant"
PLATFORM_SESSION = "platform"
UNKNOWN_OWNER = object()  # an unstamped session that is not signed in
# One audit event per refused session and host in this long; the log line comes every time.
FOREIGN_SESSION_AUDIT_SECONDS = 60 * 60


def session_owner(tenant):
    return PLATFORM_SESSION if tenant is None else tenant.pk


class SessionTenantMiddleware:
    """A session belongs to the host's tenant (or the platform) where it was made; on any other
    host it is nobody's.

    Right after SessionMiddleware, before anything reads the session: a session of another
    tenant is replaced by a fresh empty one for this request, so the request is signed out and
    none of that session's data (a pending sign-in, a reset wizard) is used here. The other
    tenant's session itself is left alone: it still works on its own host.

    Every session saved through a request is stamped with its owner. Sessions saved before this
    stamp existed (and Django's test-client force_login) carry none: a signed-in one is kept
    where its user may sign in (the same rule as sign-in, accounts.backends), and stamped; one
    whose user belongs elsewhere is another tenant's. One not signed in names no owner at all
    (a half-done sign-in or reset): it is dropped, which costs at most restarting that step.
    """

    def __init__(self, get_response):
        self.get_response = get_response
        self.SessionStore = import_module(settings.SESSION_ENGINE).SessionStore

    def __call__(self, request):
        owner = session_owner(request.tenant)
        if request.session.session_key is not None:  # the browser sent a session cookie
            refused_owner = self._refused_owner(request, owner)
            if refused_owner is not None:
                self._report(request, refused_owner)
                request.session = self.SessionStore()
        response = self.get_response(request)
        session = request.session
        if session.modified and not session.is_empty() and session.get(SESSION_TENANT_KEY) != owner:
            session[SESSION_TENANT_KEY] = owner
        return response

    def _refused_owner(self, request, owner):
        """None when the session may be used here; otherwise whose it is (or UNKNOWN_OWNER)."""
        session = request.session
        stamped = session.get(SESSION_TENANT_KEY)
        if stamped is None:
            if not session.keys():
                return None  # an unknown or expired id: Django starts a new session anyway
            stamped = self._owner_of_unstamped(request, owner)
        return None if stamped == owner else stamped

    def _owner_of_unstamped(self, request, owner):
        user = auth.get_user(request)
        if not user.is_authenticated:
            return UNKNOWN_OWNER
        if user_belongs_to_request(user, request):
            request.session[SESSION_TENANT_KEY] = owner
            return owner
        return PLATFORM_SESSION if user.tenant_id is None else user.tenant_id

    def _report(self, request, refused_owner):
        host = normalise_host(request.get_host())
        fingerprint = salted_hmac("portal.session-fingerprint", request.session.session_key).hexdigest()[:16]
        if refused_owner == UNKNOWN_OWNER:
            log.info("session %s on %s has no owner (saved before sessions were stamped): "
                     "dropped", fingerprint, host)
            return
        session_of = "platform" if refused_owner == PLATFORM_SESSION else "other_tenant"
        log.warning("session of %s refused on %s (session %s): treated as signed out",
                    "the platform" if session_of == "platform" else "another organisation",
                    host, fingerprint)
        try:
            first_time = cache.add(f"session-foreign:{fingerprint}:{host}", 1, FOREIGN_SESSION_AUDIT_SECONDS)
        except Exception:  # noqa: BLE001 - without the cache, audit every time rather than never
            first_time = True
        if first_time:
            audit.record("session.foreign", request=request, tenant=request.tenant,
                         session_of=session_of, session=fingerprint, host=host)
