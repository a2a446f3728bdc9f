"""Tenant checks in front of allauth's OpenID Connect endpoints (same paths, mounted first).

allauth has no hook to restrict which users or hosts may use a client, so each endpoint that
names a client refuses a client of another tenant before allauth sees the request. Tokens are
checked where the library has resolved them, never by reading the request again here: userinfo
is allauth's own view (the check is in sso.oidc.OIDCAdapter.get_claims), revocation runs
allauth's validator with the portal's rules (sso.oidc.RevocationValidator).
"""

import json
import time
from urllib.parse import parse_qs, urlencode, urlsplit

from allauth.idp.oidc import views as allauth_views
from allauth.idp.oidc.models import Client
from django.db import transaction
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.clickjacking import xframe_options_deny
from django.views.decorators.csrf import csrf_exempt
from django_otp import DEVICE_ID_SESSION_KEY
from oauthlib.oauth2 import RevocationEndpoint
from oauthlib.oauth2.rfc6749 import errors

from accounts.backends import user_belongs_to_request
from accounts.otp import authenticator_device, mfa_required
from core.compat import allauth as compat
from core.http import add_query_params, del_query_params

from . import access, oidc


def _client(client_id):
    if not isinstance(client_id, str) or not client_id:
        return None
    return Client.objects.filter(id=client_id).first()


def _authorize_client_id(request):
    if request.method != "POST":
        return request.GET.get("client_id")
    # The consent form posts back allauth's signed copy of the validated request.
    signed = request.POST.get("request")
    if signed:
        return compat.consent_client_id(signed)
    return request.POST.get("client_id")


def _html_error(request, description, error_class=errors.InvalidClientIdError):
    # The page allauth shows for an error it will not redirect (its template, overridden here).
    return render(request, "idp/oidc/error.html", {"error": error_class(description=description)},
                  status=400)


def _max_age_exceeded(request):
    raw = request.GET.get("max_age")
    if raw is None or not request.user.is_authenticated:
        return False
    try:
        max_age = int(raw)
    except ValueError:
        return False
    # max_age=0 means "sign in again now", like prompt=login; a session without a record of
    # when its user authenticated is taken as too old.
    at = oidc.authenticated_at(request)
    return max_age <= 0 or at is None or at + max_age < time.time()


@xframe_options_deny
@csrf_exempt  # allauth's view checks CSRF itself on the consent POST
def authorize(request):
    client = _client(_authorize_client_id(request))
    if client is not None and not oidc.client_is_usable_here(client, request):
        # Shown on our page, never redirected: the redirect URI of a foreign client is not ours
        # to trust here.
        return _html_error(request, "Unknown client.")
    if request.user.is_authenticated and not user_belongs_to_request(request.user, request):
        return _html_error(request, "Unknown client.")
    if request.method == "GET":
        method = request.GET.get("code_challenge_method")
        if request.GET.get("code_challenge") and method != "S256":
            return _html_error(
                request, "code_challenge_method must be S256.", errors.InvalidRequestError
            )
        if client is not None and not oidc.redirect_uri_registered(client, request.GET.get("redirect_uri")):
            # Exactly a registered one, or no redirect at all (OIDC Core 3.1.2.1).
            return _html_error(request, "Mismatching redirect URI.", errors.InvalidRequestError)
        if client is not None and not request.GET.get("state"):
            return _state_required(request, client)
        prompts = request.GET.get("prompt", "").split()
        if client is not None and "none" in prompts and request.user.is_authenticated:
            refused = _silent_request_refused(request, client)
            if refused:
                return refused
        if client is not None and not request.user.is_authenticated and "none" not in prompts:
            # Sign in first; login_hint pre-fills the e-mail. prompt=login is satisfied by
            # this sign-in, so it is dropped from the URL we come back to.
            next_url = del_query_params(request.get_full_path(), "prompt") if "login" in prompts \
                else request.get_full_path()
            params = {"next": next_url}
            if request.GET.get("login_hint"):
                params["login_hint"] = request.GET["login_hint"]
            return redirect(f"{reverse('account_login')}?{urlencode(params)}")
        if client is not None and request.user.is_authenticated and "login" in prompts:
            next_url = del_query_params(request.get_full_path(), "prompt")
            others = [p for p in prompts if p != "login"]  # e.g. "consent" still applies after
            if others:
                next_url = add_query_params(next_url, {"prompt": " ".join(others)})
            return _sign_in_again(request, next_url)
        if client is not None and _max_age_exceeded(request):
            # The sign-in is older than the client accepts.
            return _sign_in_again(request, del_query_params(request.get_full_path(), "max_age"))
    if client is not None and request.user.is_authenticated and not access.user_may_use(request.user, client):
        return _not_assigned(request, client)
    response = allauth_views.authorization(request)
    if response.status_code == 302 and request.user.is_authenticated:
        code = _issued_code(response.get("Location", ""))
        if code:
            oidc.remember_sign_in(request, code)
    return response


def _sign_in_again(request, next_url):
    """prompt=login / max_age: the password again and, where sign-in asks for it, the code again.

    The session's second factor is dropped first, so the step-up page asks for a fresh code
    rather than waving the old verification through.
    """
    if mfa_required(request.user, request.tenant) and authenticator_device(request.user):
        request.session.pop(DEVICE_ID_SESSION_KEY, None)
        next_url = f"{reverse('accounts_otp_verify')}?{urlencode({'next': next_url})}"
    return redirect(f"{reverse('account_reauthenticate')}?{urlencode({'next': next_url})}")


def _not_assigned(request, client):
    """The client is limited to assigned users and groups, and this user is neither.

    The user is told why on our page; the application gets access_denied (OIDC Core 3.1.2.6)
    through its "back to" link, only to a registered redirect URI. A page rather than an
    immediate redirect: most applications show a bare "sign-in failed" for any error, which
    leaves the user no wiser. With prompt=none no page may be shown: the error goes back at once.
    """
    access.record_refusal(request, request.user, client, at="authorize")
    redirect_uri = request.GET.get("redirect_uri", "") if request.method == "GET" else ""
    back_url = None
    if redirect_uri and redirect_uri in client.get_redirect_uris():  # exactly a registered one
        params = {"error": "access_denied",
                  "error_description": "The user is not assigned to this application."}
        if request.GET.get("state"):
            params["state"] = request.GET["state"]
        back_url = add_query_params(redirect_uri, params)
        if "none" in request.GET.get("prompt", "").split():
            return _ClientRedirect(back_url)
    response = render(request, "sso/access_denied.html",
                      {"application": client.name, "back_url": back_url}, status=403)
    response["Cache-Control"] = "no-store"
    return response


def _state_required(request, client):
    """We require state (CSRF protection for the client): an OAuth error, redirected to the
    (already checked) registered redirect URI."""
    return _ClientRedirect(add_query_params(request.GET["redirect_uri"], {
        "error": "invalid_request", "error_description": "The state parameter is required.",
    }))


def _silent_request_refused(request, client):
    """prompt=none (OIDC Core 3.1.2.6): no page may be shown, so what would need one is an
    error at the client. A sign-in older than max_age: login_required (3.1.2.1). Scopes the user
    has not allowed this client: consent_required (allauth would take the consent given to any
    other client). Otherwise None: allauth issues the code."""
    if _max_age_exceeded(request):
        error = "login_required"
    elif not oidc.has_consented(request.user, client, oidc.requested_scopes(client, request.GET.get("scope"))):
        error = "consent_required"
    else:
        return None
    params = {"error": error}
    if request.GET.get("state"):
        params["state"] = request.GET["state"]
    return _ClientRedirect(add_query_params(request.GET["redirect_uri"], params))


class _ClientRedirect(HttpResponse):
    # Not HttpResponseRedirect: a registered redirect URI may use an app's own scheme.
    status_code = 302

    def __init__(self, location):
        super().__init__()
        self["Location"] = location


def _issued_code(location):
    values = parse_qs(urlsplit(location).query).get("code")
    return values[-1] if values else None


def _oauth_error(error, description, status):
    response = JsonResponse({"error": error, "error_description": description}, status=status)
    response["Cache-Control"] = "no-store"
    return response


def _token_request_client(request):
    # The same reading of the credentials as allauth's, so we check the client it will use.
    return _client(compat.basic_auth_client_id(request) or request.POST.get("client_id"))


def _foreign_client_response(request):
    client = _token_request_client(request)
    if client is not None and not oidc.client_is_usable_here(client, request):
        response = _oauth_error("invalid_client", "Client authentication failed.", 401)
        response["WWW-Authenticate"] = 'Basic realm="token"'
        return response
    return None


@csrf_exempt
def token(request):
    if request.method != "POST":
        return _oauth_error("invalid_request", "Use POST.", 405)
    if request.tenant is None:
        # The platform host serves no tenant's applications.
        return _oauth_error("invalid_client", "Client authentication failed.", 401)
    refused = _foreign_client_response(request)
    if refused:
        return refused
    grant_type = request.POST.get("grant_type")
    facts, family, grant = None, oidc.new_family(), None
    if grant_type == "authorization_code":
        code = request.POST.get("code")
        facts = oidc.sign_in_for_code(code)
        if facts and facts["tenant_id"] != request.tenant.id:
            return _oauth_error("invalid_grant", "The code is invalid or expired.", 400)
        if code:
            grant = ("code", code, oidc.code_kept_until())
    elif grant_type == "refresh_token":
        value = request.POST.get("refresh_token")
        current = oidc.refresh_token_data(value)
        if current:
            facts, family = current["facts"], current["family"] or family
        if value:
            grant = ("refresh_token", value,
                     oidc.refresh_token_kept_until(current["expires_at"] if current else None))
    elif grant_type != "client_credentials":
        return _oauth_error("unsupported_grant_type", "Unsupported grant type.", 400)
    client = _token_request_client(request) if grant_type == "refresh_token" else None
    unassigned = access.refresh_user_refused(client, request.POST.get("refresh_token"))
    if unassigned is not None:
        # Removed from the application's users since the refresh token was issued.
        access.record_refusal(request, unassigned, client, at="token")
        return _oauth_error("invalid_grant", "The user may no longer use this application.", 400)
    setattr(request, oidc.SIGN_IN_ATTR, facts)
    # One transaction: the grant is recorded as used, then exchanged by allauth; a failed
    # exchange leaves it unused. A second exchange of the same grant (now, or concurrently in
    # another worker) finds it used: refused, and every token of its family is revoked
    # (RFC 6749 4.1.2, RFC 9700 4.14.2).
    used_by = None
    with transaction.atomic():
        if grant:
            kind, value, keep_until = grant
            used_by = oidc.claim_grant(kind, value, family=family, keep_until=keep_until)
        if used_by is None:
            response = allauth_views.token(request)
            if response.status_code == 200:
                oidc.tag_issued_tokens(json.loads(response.content), family=family, facts=facts)
            else:
                transaction.set_rollback(True)
    if used_by is not None:
        oidc.revoke_family(used_by)
        return _oauth_error("invalid_grant", "The grant has already been used.", 400)
    return response


@csrf_exempt
def revoke(request):
    """RFC 7009 revocation, with allauth's client authentication and oauthlib's endpoint, but
    only the client that holds a token may revoke it (sso.oidc.RevocationValidator)."""
    if request.method != "POST":
        return _oauth_error("invalid_request", "Use POST.", 405)
    endpoint = RevocationEndpoint(oidc.RevocationValidator())
    headers, body, status = endpoint.create_revocation_response(*compat.oauthlib_request(request))
    response = HttpResponse(body, status=status)
    for name, value in headers.items():
        response[name] = value
    return response


@csrf_exempt
def introspect(request):
    """RFC 7662, allauth's endpoint: a client of another tenant is not a client here."""
    if request.method != "POST":
        return _oauth_error("invalid_request", "Use POST.", 405)
    if request.tenant is None:
        return _oauth_error("invalid_client", "Client authentication failed.", 401)
    refused = _foreign_client_response(request)
    if refused:
        return refused
    return allauth_views.introspect(request)


@csrf_exempt
def logout(request):
    client = _client(request.POST.get("client_id") or request.GET.get("client_id"))
    if client is not None and not oidc.client_is_usable_here(client, request):
        return _html_error(request, "Unknown client.")
    uri = request.POST.get("post_logout_redirect_uri", request.GET.get("post_logout_redirect_uri"))
    if uri is not None and not oidc.post_logout_uri_registered(request.tenant, uri):
        return _html_error(request, "The post_logout_redirect_uri is not registered.",
                           errors.InvalidRequestError)
    return allauth_views.logout(request)


def not_offered(request):
    # The device flow is not part of the product; its endpoints are closed.
    raise Http404
