"""django-allauth internals the portal relies on: the one module that imports or replaces them.

Checked against django-allauth 65.21.1 (CHECKED_AGAINST). Each entry names the upstream issue it
works around (or what allauth would need), the figures that keep it where it is a speed shortcut
(bench/README.md), and the test in tests/core/test_compat.py that drives it through allauth's public
entry points (a sign-in, the OIDC endpoints), so that a changed name or signature fails there.

Import after the app registry is ready (allauth's OIDC internals import its models); every
caller does (AppConfig.ready, views, adapters).
"""

import secrets
import time
from dataclasses import dataclass, field

from allauth.account.adapter import get_adapter
from allauth.account.internal.stagekit import stash_login
from allauth.account.signals import user_logged_in
from allauth.core.exceptions import RateLimited
from allauth.core.internal import ratelimit as allauth_ratelimit
from allauth.core.internal.httpkit import extract_basic_auth
from allauth.core.internal.jwkkit import load_jwk_from_pem
from allauth.idp.oidc.internal.oauthlib.request_validator import OAuthLibRequestValidator
from allauth.idp.oidc.internal.oauthlib.utils import extract_params
from django.core.cache import caches
from django.core.signing import BadSignature, Signer

from .django import redis_client

CHECKED_AGAINST = "django-allauth 65.21.1"


# --- Rate limits on Redis: one round trip per check ---------------------------------------------

# KEYS: one window per rate. ARGV: now, member ("" = dry run), then duration and amount per rate.
# Returns how many rates allowed the hit; fewer than #KEYS means the next one refused it.
CONSUME_SCRIPT = """
local now = tonumber(ARGV[1])
for i, window in ipairs(KEYS) do
  local duration = tonumber(ARGV[2 * i + 1])
  redis.call('ZREMRANGEBYSCORE', window, '-inf', now - duration)
  if redis.call('ZCARD', window) >= tonumber(ARGV[2 * i + 2]) then
    return i - 1
  end
  if ARGV[2] ~= '' then
    redis.call('ZADD', window, now, ARGV[2])
    redis.call('EXPIRE', window, math.ceil(duration))
  end
end
return #KEYS
"""

allauth_consume = allauth_ratelimit.consume
allauth_clear = allauth_ratelimit.clear


def _redis():
    return redis_client(caches["default"])


def _windows(request, *, app, action, rates, key, user):
    """Each rate's window key: its own beside allauth's list, so neither is read as the other."""
    cache = caches["default"]
    keys = (allauth_ratelimit.get_cache_key(
        request, app=app, action=action, rate=rate, key=key, user=user) for rate in rates)
    return [cache.make_and_validate_key(f"{cache_key}:window") for cache_key in keys]


@dataclass
class WindowsUsage(allauth_ratelimit.RateLimitUsage):
    windows: list = field(default_factory=list)
    member: str = ""

    def rollback(self):
        client = _redis()
        if self.member and self.windows and client is not None:
            pipe = client.pipeline(transaction=False)
            for window in self.windows:
                pipe.zrem(window, self.member)
            pipe.execute()


def consume(request, *, app, action, config=None, key=None, user=None, dry_run=False,
            limit_get=False, raise_exception=False):
    """allauth's consume() (allauth.core.internal.ratelimit), one Redis round trip per check."""
    client = _redis()
    if client is None:
        return allauth_consume(
            request, app=app, action=action, config=config, key=key, user=user, dry_run=dry_run,
            limit_get=limit_get, raise_exception=raise_exception)
    if (not limit_get and request.method == "GET") or not (
            rates := allauth_ratelimit.get_rates(app=app, action=action, config=config)):
        return allauth_ratelimit.RateLimitUsage(usage=[])
    windows = _windows(request, app=app, action=action, rates=rates, key=key, user=user)
    now = time.time()
    member = "" if dry_run else f"{now!r}-{secrets.token_hex(4)}"
    args = [repr(now), member]
    for rate in rates:
        args += [rate.duration, rate.amount]
    allowed = client.register_script(CONSUME_SCRIPT)(keys=windows, args=args)
    if allowed < len(rates):
        if raise_exception:
            raise RateLimited
        return None
    return WindowsUsage(usage=[], windows=windows, member=member)


def clear(request, *, app, action, config=None, key=None, user=None):
    """allauth's clear() (allauth.core.internal.ratelimit) for the windows above."""
    client = _redis()
    if client is None:
        return allauth_clear(request, app=app, action=action, config=config, key=key, user=user)
    rates = allauth_ratelimit.get_rates(app=app, action=action, config=config)
    if rates:
        client.delete(*_windows(request, app=app, action=action, rates=rates, key=key, user=user))
    return None


def install_redis_rate_limits():
    """allauth's rate limits (sign-ins per address, failed sign-ins per address and per account,
    and every other ACCOUNT_RATE_LIMITS / IDP_OIDC_RATE_LIMITS entry) on Redis.

    allauth keeps each limit as a list of timestamps in the Django cache, guarded by a lock of
    its own: add the lock, get the list, set it, delete the lock, for every rate; a sign-in that
    succeeds consumed three rates and rolled two back: 20 Redis commands per sign-in POST. On
    Redis the same sliding windows are sorted sets that one script trims, counts and appends to,
    every rate of a check at once and atomically (no lock, so parallel guesses cannot slip past
    a limit). allauth's semantics are kept: rates checked in order, each allowed one records the
    hit until now + duration, the first refusal stops there, a rollback removes what it
    recorded. On any other cache (the embedded default's local memory) allauth's own code runs.

    Run-time replacement of `allauth.core.internal.ratelimit.consume` and `.clear`: allauth's
    public wrappers, its view decorator, consume_or_429 and its adapter look both up in that
    module at each call. Upstream: pennersr/django-allauth#3103 (sorted sets) was declined:
    allauth works on the Django cache, not Redis, and has no pluggable limiter.
    Kept for: bench/README.md, third pass, fix 1: Redis round trips per sign-in POST 21 → 4,
    whole-machine CPU per sign-in (MD5 run) 14.35 → 12.95 ms (−9.8 %), web workers
    10.85 → 9.8 ms (−9.7 %).
    Tests: tests/core/test_compat.py::test_a_sign_in_is_counted_in_the_redis_sliding_windows,
    ::test_the_sixth_wrong_password_is_refused_by_the_redis_windows,
    tests/tenants/test_foundation.py::test_parallel_guesses_get_no_more_tries_than_guesses_one_after_another.
    """
    allauth_ratelimit.consume = consume
    allauth_ratelimit.clear = clear


# --- The key of the failed sign-in limit per account ---------------------------------------------

class LoginAttemptsKeyMixin:
    """For the account adapter: the key of allauth's "failed sign-ins per account" limit comes
    from `login_attempts_key(request, login)` (the login lower-cased, as allauth looks it up).

    allauth builds it in the private adapter method `_get_login_attempts_cache_key` (read by
    pre_authenticate, cleared by `_delete_login_attempts_cached_email`), from the site's domain,
    i.e. the request's host, so each host name of a tenant had its own count. Overriding the
    private method is what allauth's author advises (pennersr/django-allauth#3584: "override the
    adapter method _get_login_attempts_cache_key() ... that is a private method").
    Test: tests/core/test_compat.py::test_failed_sign_ins_count_per_tenant_whatever_the_host_name.
    """

    def login_attempts_key(self, request, login):
        raise NotImplementedError

    def _get_login_attempts_cache_key(self, request, **credentials):
        login = credentials.get("email", credentials.get("username", "")).lower()
        return self.login_attempts_key(request, login)


def clear_failed_sign_ins(request, *, email):
    """Forget the failed sign-ins of the account with this address (after a completed reset),
    as allauth's own password reset does: through the adapter's private
    `_delete_login_attempts_cached_email`, so the key is the one pre_authenticate counted under.
    No public API; would need allauth to expose it (no upstream issue found).
    Test: tests/core/test_compat.py::test_failed_sign_ins_count_per_tenant_whatever_the_host_name
    (and tests/recovery/test_reset.py::test_a_reset_lifts_the_lock_out_that_wrong_passwords_caused).
    """
    get_adapter(request)._delete_login_attempts_cached_email(request, email=email)


# --- allauth.usersessions: the record of a sign-in ------------------------------------------------

def replace_usersessions_sign_in_receiver(receiver):
    """Record sign-ins with `receiver` instead of allauth.usersessions' own receiver.

    At each sign-in allauth first checks every session it recorded for the user (a server-side
    cursor, then per session a session load and a user query) and then get-or-creates the record
    in a transaction with a savepoint: about ten round trips, more for a user with many
    sessions. Its receiver, `allauth.usersessions.signals.on_user_logged_in` (connected by its
    AppConfig.ready without a dispatch_uid), is disconnected here. No upstream issue found:
    allauth would need a setting or adapter hook for how a sign-in is recorded.
    Kept for: bench/README.md, second pass, fix 5: statements of a completed sign-in POST
    13 → 7.
    Test: tests/core/test_compat.py::test_a_sign_in_is_recorded_with_one_insert.
    """
    from allauth.usersessions import signals as usersessions_signals

    if not user_logged_in.disconnect(receiver=usersessions_signals.on_user_logged_in):
        raise RuntimeError("allauth.usersessions' sign-in receiver was not found: review "
                           "core/compat/allauth.py against the installed allauth")
    user_logged_in.connect(receiver=receiver, dispatch_uid="portal_record_session")


# --- Login stages ---------------------------------------------------------------------------------

def save_stage_state(stage):
    """Keep what a login stage wrote to `stage.state` for the rest of the pending sign-in.

    A stage's state lives in the pending login that allauth keeps in the session; allauth writes
    it back (the private `allauth.account.internal.stagekit.stash_login`) only when a stage
    answers from handle(), not when the stage's own page changes it. No upstream issue found:
    allauth would need a public way for a stage's view to save its state.
    Test: tests/core/test_compat.py::test_a_stage_keeps_what_its_page_remembered.
    """
    stash_login(stage.request, stage.login)


# --- OpenID Connect provider (allauth.idp.oidc) ---------------------------------------------------
# allauth has no hook to refuse a client or a user per request (the portal's tenants), so the
# portal's views run before allauth's (sso.views) and read requests exactly as allauth will.
# No upstream issue found: allauth would need an adapter hook such as
# is_client_allowed(request, client, user).

def consent_client_id(signed):
    """The client_id inside allauth's consent form (its hidden "request" field), or None.

    allauth's AuthorizationView signs (scopes, request_info) with Django's Signer and posts it
    back to the authorization URL without a query string; the client is only in there.
    Test: tests/core/test_compat.py::test_the_consent_form_names_its_client.
    """
    try:
        _scopes, info = Signer().unsign_object(signed)
    except (BadSignature, ValueError, TypeError):
        return None
    return info.get("client_id") if isinstance(info, dict) else None


def basic_auth_client_id(request):
    """The client_id of an HTTP Basic Authorization header, read as allauth's token endpoint and
    validator read it (allauth.core.internal.httpkit.extract_basic_auth), or None.
    Test: tests/core/test_compat.py::test_a_token_request_of_another_tenants_client_is_refused.
    """
    client_id, _secret = extract_basic_auth({"Authorization": request.META.get("HTTP_AUTHORIZATION", "")})
    return client_id


def oauthlib_request(request):
    """(uri, method, body, headers) of a Django request, as allauth hands requests to oauthlib
    (allauth.idp.oidc.internal.oauthlib.utils.extract_params).
    Test: tests/core/test_compat.py::test_a_client_revokes_its_own_token_and_no_other.
    """
    return extract_params(request)


class RequestValidator(OAuthLibRequestValidator):
    """allauth's oauthlib request validator (allauth.idp.oidc.internal.oauthlib), for the
    endpoints allauth does not serve the portal's way (sso.oidc.RevocationValidator: RFC 7009's
    "only the client a token was issued to revokes it").
    Test: tests/core/test_compat.py::test_a_client_revokes_its_own_token_and_no_other.
    """


def jwk_kid(pem):
    """The key id allauth gives a private key in its JWKS and token headers (the RFC 7638
    thumbprint, allauth.core.internal.jwkkit.load_jwk_from_pem).
    Test: tests/core/test_compat.py::test_a_tenants_new_key_is_published_under_its_kid.
    """
    return load_jwk_from_pem(pem)[0]["kid"]
