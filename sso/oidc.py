"""The portal as an OpenID Connect provider (allauth.idp.oidc): the rules in one place.

- Clients belong to a tenant (sso.models.TenantOIDCClient) and work only on that tenant's hosts,
  for that tenant's users (client_is_usable_here, OIDCAdapter.get_user_by_sub).
- A tenant is one issuer, its canonical URL (tenant_url), on whichever of its host names the
  request came (OIDCAdapter.get_issuer); discovery names every endpoint there too.
- A token answers only on its tenant's hosts: userinfo checks the client and user that the
  library itself found for the bearer token, however it was sent (OIDCAdapter.get_claims), and a
  token is revoked only by the client it was issued to (RevocationValidator).
- Each tenant signs its ID tokens with its own keys and publishes only those
  (OIDCAdapter.list_private_keys, sso.signing_keys).
- How the user signed in (amr, auth_time) is captured when the code is issued
  (remember_sign_in) and carried to the ID token through the code, then the refresh token.
  auth_time is when the user last authenticated in the session (allauth's authentication
  records), so max_age and prompt=login (sso.views.authorize) can ask for a new sign-in.
- Redirect URIs match a registered one exactly (redirect_uri_registered). A silent request
  (prompt=none) gets a code only for what the user allowed this very client (has_consented).
- Each grant (a code, a refresh token) is exchanged once: the exchange records it in its own
  transaction (claim_grant), and a grant presented again revokes every token of its family,
  the tokens issued from one code and their refreshes (revoke_family).
"""

import hashlib
import secrets
import time
import uuid
from datetime import timedelta
from urllib.parse import urlsplit

from allauth.account.authentication import get_authentication_records
from allauth.core import context
from allauth.idp.oidc import app_settings as oidc_settings
from allauth.idp.oidc.adapter import DefaultOIDCAdapter
from allauth.idp.oidc.models import Client, Token
from allauth.utils import build_absolute_uri
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from oauthlib.oauth2.rfc6749.errors import InvalidTokenError

from accounts.backends import user_belongs_to_request
from core.compat.allauth import RequestValidator
from tenants.resolution import tenant_url
from tenants.scoping import tenant_scope

from . import access, app_settings
from .models import RedeemedGrant, TenantOIDCClient
from .signing_keys import private_keys_of

SCOPE_CHOICES = ["openid", "profile", "email", "groups"]
# Where the sign-in facts travel on the Django request of the token endpoint.
SIGN_IN_ATTR = "portal_oidc_sign_in"
TOKEN_DATA_KEY = "portal_sign_in"
FAMILY_DATA_KEY = "portal_family"


# --- clients ----------------------------------------------------------------------------------

def client_tenant_id(client):
    # The reverse one-to-one: free when the caller loaded it with select_related("tenant_link").
    try:
        return client.tenant_link.tenant_id
    except TenantOIDCClient.DoesNotExist:
        return None


def issuer_of(tenant) -> str:
    """A tenant's OpenID Connect issuer: its canonical URL (every endpoint's root)."""
    return tenant_url(tenant, "")


def discovery_url_of(tenant) -> str:
    """Where relying parties read the tenant's provider configuration (Discovery 1.0 section 4)."""
    return issuer_of(tenant) + "/.well-known/openid-configuration"


def client_is_usable_here(client, request) -> bool:
    """A client answers only on its own tenant's hosts (never on the platform host)."""
    tenant = getattr(request, "tenant", None)
    return tenant is not None and client_tenant_id(client) == tenant.id


def token_is_usable_here(client, user, request) -> bool:
    """A token (its client and user, as the library resolved them) works on its tenant's hosts."""
    if client is None or not client_is_usable_here(client, request):
        return False
    return user is None or user_belongs_to_request(user, request)


@transaction.atomic
def save_client(client, *, tenant=None, scopes=("openid", "profile", "email"),
                post_logout_redirect_uris=None):
    """Save a client (new or edited) the one way: code flow + refresh, our scopes, its tenant.

    Returns the plain secret of a new confidential client (shown once, stored hashed), else None.
    """
    is_new = client._state.adding
    client.grant_types = "\n".join([Client.GrantType.AUTHORIZATION_CODE, Client.GrantType.REFRESH_TOKEN])
    client.response_types = "code"
    client.set_scopes([scope for scope in SCOPE_CHOICES if scope in scopes])
    client.set_default_scopes(["openid"])
    if post_logout_redirect_uris is not None:
        client.set_post_logout_redirect_uris(list(post_logout_redirect_uris))
    secret = None
    if is_new and client.type == Client.Type.CONFIDENTIAL:
        secret = new_client_secret(client)
    client.full_clean(exclude=["secret"])
    client.save()
    if is_new:
        TenantOIDCClient.objects.create(client=client, tenant=tenant)
    return secret


def register_client(*, tenant, name, redirect_uris, client_type=Client.Type.CONFIDENTIAL,
                    scopes=("openid", "profile", "email"), skip_consent=False,
                    post_logout_redirect_uris=(), client_id=None):
    """Create a tenant's client. Returns (client, plain secret or None)."""
    client = Client(name=name, type=client_type, skip_consent=skip_consent)
    if client_id:
        client.id = client_id
    client.set_redirect_uris(list(redirect_uris))
    secret = save_client(client, tenant=tenant, scopes=scopes,
                         post_logout_redirect_uris=post_logout_redirect_uris)
    return client, secret


def clients_of(tenant):
    with tenant_scope(tenant):
        links = TenantOIDCClient.objects.values("client")
    return Client.objects.filter(pk__in=links)


def new_client_secret(client):
    """Set a fresh secret (stored hashed) and return the plain one to show once."""
    secret = OIDCAdapter().generate_client_secret()
    client.set_secret(secret)
    return secret


# --- how the user signed in ---------------------------------------------------------------

def sign_in_facts(request):
    """amr and auth_time of the current session (RFC 8176 method names).

    auth_time: the latest time the user authenticated in this session (signed in, signed in
    again, verified a code), from allauth's authentication records of this user.
    """
    amr = ["pwd"]
    if getattr(request.user, "is_verified", lambda: False)():
        amr.append("otp")
    at = authenticated_at(request)
    auth_time = int(at) if at is not None else int(time.time())
    return {"amr": amr, "auth_time": auth_time, "tenant_id": request.tenant.id}


def authenticated_at(request):
    """When the session's user last authenticated (signed in, signed in again, verified a code),
    as allauth recorded it in the session; None when it has no record (a session older than
    the records, say): max_age then asks for a new sign-in (sso.views._max_age_exceeded)."""
    times = [record.get("at") for record in get_authentication_records(request, request.user)]
    times = [at for at in times if isinstance(at, int | float)]
    return max(times) if times else None


def _code_key(code):
    return "portal.oidc.code." + hashlib.sha256(code.encode()).hexdigest()


def remember_sign_in(request, code):
    """Called when the authorize endpoint has issued a code to this signed-in session."""
    cache.set(_code_key(code), sign_in_facts(request), timeout=oidc_settings.AUTHORIZATION_CODE_EXPIRES_IN + 5)


def sign_in_for_code(code):
    return cache.get(_code_key(code)) if code else None


def refresh_token_data(value):
    """The portal's data on a valid refresh token: {"facts": sign-in facts or None, "family":
    its family or None, "expires_at": ...}, or None for an unknown or expired token."""
    token = Token.objects.lookup(Token.Type.REFRESH_TOKEN, value) if value else None
    if token is None:
        return None
    data = token.data if isinstance(token.data, dict) else {}
    return {"facts": data.get(TOKEN_DATA_KEY), "family": data.get(FAMILY_DATA_KEY),
            "expires_at": token.expires_at}


def tag_issued_tokens(token_response, *, family, facts):
    """Mark the tokens of a token response with their family (and the refresh token with how
    the user signed in, for the ID tokens of later refreshes)."""
    for key, kind in (("access_token", Token.Type.ACCESS_TOKEN), ("refresh_token", Token.Type.REFRESH_TOKEN)):
        value = token_response.get(key)
        token = Token.objects.lookup(kind, value) if value else None
        if token is None:
            continue
        extra = {FAMILY_DATA_KEY: family}
        if kind == Token.Type.REFRESH_TOKEN and facts:
            extra[TOKEN_DATA_KEY] = facts
        token.data = {**(token.data if isinstance(token.data, dict) else {}), **extra}
        token.save(update_fields=["data"])


# --- redirect URIs and consent ------------------------------------------------------------

def _loopback_without_port(uri):
    """A loopback http URI as a tuple without its port; None for any other URI."""
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError:
        return None
    if parts.scheme != "http" or parts.hostname not in ("127.0.0.1", "::1"):
        return None
    return (parts.hostname, parts.username, parts.password, parts.path, parts.query, parts.fragment)


def redirect_uri_registered(client, uri):
    """Whether `uri` is, character for character, one of the client's redirect URIs (OIDC Core
    3.1.2.1 "Simple String Comparison", RFC 9700 4.1.3). One exception, RFC 8252 7.3: a native
    app's loopback URI (http://127.0.0.1 or [::1]) may come with any port.

    allauth's own rule (allauth.idp.oidc.internal.clientkit.is_redirect_uri_allowed) also takes
    a registered URI with any query parameters added, which lets a parameter the client never
    registered (an open redirect of the client, say) ride along with the code.
    """
    if not isinstance(uri, str) or not uri:
        return False
    registered = client.get_redirect_uris()
    if uri in registered:
        return True
    loopback = _loopback_without_port(uri)
    return loopback is not None and any(_loopback_without_port(r) == loopback for r in registered)


def post_logout_uri_registered(tenant, uri):
    """Whether `uri` is, character for character, a post-logout redirect URI that one of the
    tenant's clients registered (RP-Initiated Logout 1.0 section 2). allauth's rule also takes
    extra query parameters, or the origin of a redirect URI when none was registered; the
    client named by the request is still checked by allauth itself."""
    if tenant is None or not isinstance(uri, str) or not uri:
        return False
    return any(uri in client.get_post_logout_redirect_uris() for client in clients_of(tenant))


def requested_scopes(client, scope_param):
    scopes = (scope_param or "").split()
    return scopes or client.get_default_scopes()


def has_consented(user, client, scopes):
    """Whether the user allowed this client (not any client) every scope asked for.

    The evidence is allauth's: the tokens the user holds, here only those of this client
    (allauth's validate_silent_authorization pools the scopes of the user's tokens of every
    client). A client that skips the consent page was allowed by its tenant's administrator.
    """
    if client.skip_consent:
        return True
    granted = set()
    tokens = Token.objects.valid().filter(
        user=user, client=client, type__in=[Token.Type.REFRESH_TOKEN, Token.Type.ACCESS_TOKEN])
    for token_scopes in tokens.values_list("scopes", flat=True):
        granted.update(filter(None, (scope.strip() for scope in token_scopes.split("\n"))))
    return set(scopes) <= granted


# --- one exchange per grant, token families ---------------------------------------------------

def new_family():
    return uuid.uuid4().hex


def _grant_digest(kind, value):
    return hashlib.sha256(f"{kind}:{value}".encode()).hexdigest()


def claim_grant(kind, value, *, family, keep_until):
    """Record that the grant `value` (kind "code" or "refresh_token") is being exchanged, in
    the caller's transaction. Returns None when this is the first exchange; else the family of
    the earlier one (which then holds the row: a concurrent exchange waits here on PostgreSQL's
    unique index until the first commits or rolls back).
    """
    digest = _grant_digest(kind, value)
    try:
        with transaction.atomic():
            RedeemedGrant.objects.create(digest=digest, family=family, keep_until=keep_until)
        return None
    except IntegrityError:
        return RedeemedGrant.objects.filter(digest=digest).values_list("family", flat=True).first() or ""


def code_kept_until():
    return timezone.now() + timedelta(seconds=app_settings.REDEEMED_CODE_KEPT_FOR)


def refresh_token_kept_until(expires_at):
    return expires_at or timezone.now() + timedelta(seconds=app_settings.ROTATED_REFRESH_TOKEN_KEPT_FOR)


def revoke_family(family):
    """Delete every access and refresh token of a family (a grant was used twice)."""
    if not family:
        return 0
    deleted, _per_model = Token.objects.filter(
        type__in=[Token.Type.ACCESS_TOKEN, Token.Type.REFRESH_TOKEN], **{f"data__{FAMILY_DATA_KEY}": family}
    ).delete()
    return deleted


def purge_redeemed_grants():
    deleted, _per_model = RedeemedGrant.objects.filter(keep_until__lt=timezone.now()).delete()
    return deleted


def _tenant_slug(user):
    # The request's tenant is the user's on every endpoint that issues claims (the client and
    # the user must both belong to it): no need to load it again.
    request_tenant = getattr(context.request, "tenant", None)
    if request_tenant is not None and request_tenant.id == user.tenant_id:
        return request_tenant.slug
    return user.tenant.slug if user.tenant_id else None


# --- allauth adapter ------------------------------------------------------------------------

class OIDCAdapter(DefaultOIDCAdapter):
    scope_display = {
        "openid": _("Know who you are (your user ID)"),
        "email": _("See your e-mail address"),
        "profile": _("See your name"),
        "groups": _("See the groups you belong to and your roles in this application"),
    }

    def generate_client_secret(self):
        # URL-safe: pasted into config files and HTTP Basic auth without escaping.
        return secrets.token_urlsafe(32)

    def get_issuer(self):
        # allauth's is the request's root URL: one issuer per host name of a tenant. The
        # platform host has no clients; its root URL is its issuer.
        tenant = getattr(self.request, "tenant", None)
        return issuer_of(tenant) if tenant is not None else super().get_issuer()

    def populate_server_metadata(self, data):
        # allauth builds the endpoints from the request's host: move them to the issuer's.
        request_root, issuer_root = build_absolute_uri(self.request, "/"), self.get_issuer() + "/"
        for name, value in data.items():
            if isinstance(value, str) and value.startswith(request_root):
                data[name] = issuer_root + value.removeprefix(request_root)
        # Advertise only what is offered: the code flow (with refresh); the device flow is closed.
        data.pop("device_authorization_endpoint", None)
        data["grant_types_supported"] = [Client.GrantType.AUTHORIZATION_CODE, Client.GrantType.REFRESH_TOKEN]
        data["response_types_supported"] = ["code"]
        data["claims_supported"] = [
            "sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "amr",
            "email", "email_verified", "name", "preferred_username", "locale", "tid",
            "groups", "roles",
        ]
        data["scopes_supported"] = list(SCOPE_CHOICES)
        # Back-Channel Logout 1.0 (sso.backchannel): logout tokens name the user (sub), no sid,
        # so backchannel_logout_session_supported is not advertised.
        data["backchannel_logout_supported"] = True

    def list_private_keys(self, *, did_activate=None, is_active=None):
        # The request's tenant's own keys: its JWKS, the key that signs its ID tokens, the keys
        # that check an id_token_hint there. The platform host (and code outside a request) has
        # none; the IDP_OIDC_PRIVATE_KEYS setting is never read. A key is active when made, so
        # did_activate filters nothing.
        tenant = getattr(self.request, "tenant", None)
        if tenant is None:
            return []
        return private_keys_of(tenant, published_only=bool(is_active))

    def get_user_sub(self, client, user):
        return user.subject_identifier

    def get_user_by_sub(self, client, sub):
        # Within the client's tenant only (its scope, tenants.scoping): a user of another tenant
        # (or a platform operator) is nobody here and never gets a token for this client.
        tenant_id = client_tenant_id(client)
        if not isinstance(sub, str) or tenant_id is None:
            return None
        with tenant_scope(client.tenant_link.tenant):
            return get_user_model().objects.filter(
                subject_identifier=sub, tenant_id=tenant_id, is_active=True).first()

    def get_claims(self, purpose, user, client, scopes, email=None, **kwargs):
        if purpose == "userinfo" and not token_is_usable_here(client, user, self.request):
            # The library has read the bearer token (header in any spelling it accepts, or form
            # body) and found its client and user: a token of another tenant gets the very answer
            # of an unknown token.
            raise InvalidTokenError()
        if purpose == "userinfo" and not access.user_may_use(user, client):
            # No longer assigned to the application: its tokens answer like unknown ones.
            raise InvalidTokenError()
        claims = super().get_claims(purpose, user, client, scopes, email=email, **kwargs)
        claims["tid"] = _tenant_slug(user)
        if "profile" in scopes:
            # The sign-in name, what Grafana, GitLab and Nextcloud map to a login by default.
            claims["preferred_username"] = user.email
            claims["locale"] = user.language
            if user.name:
                claims["name"] = user.name
        claims.update(access.group_claims(user, client, scopes))
        if purpose == "id_token":
            facts = getattr(context.request, SIGN_IN_ATTR, None)
            if facts:
                claims["amr"] = facts["amr"]
                claims["auth_time"] = facts["auth_time"]
        return claims


    def is_introspection_allowed(self, token, *, caller_client):
        # RFC 7662 4: only the tenant's own confidential clients, each about its own tokens
        # (allauth already refuses another client's token: INTROSPECTION_CROSS_CLIENT_ALLOWED
        # is False), and only on its tenant's hosts. Anything else reads as an unknown token.
        return (
            caller_client.type == Client.Type.CONFIDENTIAL
            and token.client_id == caller_client.pk
            and token_is_usable_here(caller_client, token.user, self.request)
        )


# --- revocation (RFC 7009) ----------------------------------------------------------------

class RevocationValidator(RequestValidator):
    """allauth's validator for oauthlib's revocation endpoint (sso.views.revoke).

    allauth authenticates the client; the client must be one of this host's tenant. allauth's
    revoke_token deletes a token whoever asks; here only the client it was issued to revokes it
    (RFC 7009 2.1). Another client's token is handled like an unknown one: nothing happens and
    the answer is the same 200 (2.2), so a client learns nothing about tokens it does not hold.
    The type hint only speeds a look-up up (2.1), so both types are always searched.
    """

    def authenticate_client(self, request, *args, **kwargs):
        return super().authenticate_client(request, *args, **kwargs) and self._client_is_local(request)

    def authenticate_client_id(self, client_id, request, *args, **kwargs):
        return super().authenticate_client_id(client_id, request, *args, **kwargs) and (
            self._client_is_local(request)
        )

    def _client_is_local(self, request):
        return client_is_usable_here(request.client, context.request)

    def revoke_token(self, token, token_type_hint, request, *args, **kwargs):
        Token.objects.filter(
            client=request.client, type__in=[Token.Type.ACCESS_TOKEN, Token.Type.REFRESH_TOKEN]
        ).by_value(token).delete()
