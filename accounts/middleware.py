import logging
from importlib import import_module

from django.conf import settings
from django.contrib import auth
from django.core.cache import cache
from django.utils import translation
from django.utils.crypto import salted_hmac

import audit
from tenants.resolution import normalise_host
from tenants.scoping import all_tenants

from .backends import user_belongs_to_request

log = logging.getLogger(__name__)


def chosen_language(request):
    """The language the visitor picked with the switcher (its cookie), if it is one of ours."""
    code = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)
    if not code:
        return None
    try:
        return translation.get_supported_language_variant(code)
    except LookupError:
        return None


def apply_language_on_sign_in(request, user):
    """At sign-in, before the "signed in" message is written: a language chosen before signing in
    (the switcher's cookie) is kept and saved as the user's (their e-mails follow it); without
    one, the user's saved language applies from this response on, the message included."""
    chosen = chosen_language(request)
    if chosen:
        if user.language != chosen:
            user.language = chosen
            user.save(update_fields=["language"])
        return
    if user.language:
        translation.activate(user.language)
        request.LANGUAGE_CODE = user.language


class UserLanguageMiddleware:
    """A signed-in user's saved language wins over the browser's, unless they switched just now."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)

        if (
            user is not None
            and user.is_authenticated
            and settings.LANGUAGE_COOKIE_NAME not in request.COOKIES
            and user.language
        ):
            translation.activate(user.language)
            request.LANGUAGE_CODE = user.language
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
        with all_tenants():  # whose session this is, whichever tenant: to refuse it elsewhere
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
