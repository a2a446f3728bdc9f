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
"""

import hashlib
import secrets
import time

from allauth.account.authentication import get_authentication_records
from allauth.core import context
from allauth.idp.oidc import app_settings as oidc_settings
from allauth.idp.oidc.adapter import DefaultOIDCAdapter
from allauth.idp.oidc.models import Client, Token
from allauth.utils import build_absolute_uri
from django.core.cache import cache
from django.db import transaction
from django.utils.translation import gettext_lazy as _
from oauthlib.oauth2.rfc6749.errors import InvalidTokenError

from accounts.backends import user_belongs_to_request
from core.compat.allauth import RequestValidator
from tenants.resolution import tenant_url

from .models import TenantOIDCClient
from .signing_keys import private_keys_of

SCOPE_CHOICES = ["openid", "profile", "email"]
# Where the sign-in facts travel on the Django request of the token endpoint.
SIGN_IN_ATTR = "portal_oidc_sign_in"
TOKEN_DATA_KEY = "portal_sign_in"


# --- clients ----------------------------------------------------------------------------------

def client_tenant_id(client):
    # The reverse one-to-one: free when the caller loaded it with select_related("tenant_link").
    try:
        return client.tenant_link.tenant_id
    except TenantOIDCClient.DoesNotExist:
        return None


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
    return Client.objects.filter(tenant_link__tenant=tenant)


def new_client_secret(client):
    """Set a fresh secret (stored hashed) and return the plain one to show once."""
    secret = OIDCAdapter().generate_client_secret()
    client.set_secret(secret)
    return secret


# --- how the user signed in ---------------------------------------------------------------

def sign_in_facts(request):
    """amr and auth_time of the current session (RFC 8176 method names)."""
    amr = ["pwd"]
    if getattr(request.user, "is_verified", lambda: False)():
        amr.append("otp")
    times = [record.get("at", 0) for record in get_authentication_records(request)]
    auth_time = int(max(times)) if times else int(time.time())
    return {"amr": amr, "auth_time": auth_time, "tenant_id": request.tenant.id}


def _code_key(code):
    return "portal.oidc.code." + hashlib.sha256(code.encode()).hexdigest()


def remember_sign_in(request, code):
    """Called when the authorize endpoint has issued a code to this signed-in session."""
    cache.set(_code_key(code), sign_in_facts(request), timeout=oidc_settings.AUTHORIZATION_CODE_EXPIRES_IN + 5)


def sign_in_for_code(code):
    return cache.get(_code_key(code)) if code else None


def sign_in_for_refresh_token(value):
    token = Token.objects.lookup(Token.Type.REFRESH_TOKEN, value) if value else None
    if token is None or not isinstance(token.data, dict):
        return None
    return token.data.get(TOKEN_DATA_KEY)


def attach_sign_in_to_refresh_token(value, facts):
    token = Token.objects.lookup(Token.Type.REFRESH_TOKEN, value)
    if token is not None:
        token.data = {**(token.data or {}), TOKEN_DATA_KEY: facts}
        token.save(update_fields=["data"])


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
    }

    def generate_client_secret(self):
        # URL-safe: pasted into config files and HTTP Basic auth without escaping.
        return secrets.token_urlsafe(32)

    def get_issuer(self):
        # allauth's is the request's root URL: one issuer per host name of a tenant. The
        # platform host has no clients; its root URL is its issuer.
        tenant = getattr(self.request, "tenant", None)
        return tenant_url(tenant, "") if tenant is not None else super().get_issuer()

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
            "email", "email_verified", "name", "locale", "tid",
        ]
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

    def get_user_by_sub(self, client, sub):
        user = super().get_user_by_sub(client, sub)
        # A user of another tenant never gets a token for this tenant's client.
        if user is None or user.tenant_id is None or user.tenant_id != client_tenant_id(client):
            return None
        return user

    def get_claims(self, purpose, user, client, scopes, email=None, **kwargs):
        if purpose == "userinfo" and not token_is_usable_here(client, user, self.request):
            # The library has read the bearer token (header in any spelling it accepts, or form
            # body) and found its client and user: a token of another tenant gets the very answer
            # of an unknown token.
            raise InvalidTokenError()
        claims = super().get_claims(purpose, user, client, scopes, email=email, **kwargs)
        claims["tid"] = _tenant_slug(user)
        if "profile" in scopes and user.name:
            claims["name"] = user.name
            claims["locale"] = user.language
        if purpose == "id_token":
            facts = getattr(context.request, SIGN_IN_ATTR, None)
            if facts:
                claims["amr"] = facts["amr"]
                claims["auth_time"] = facts["auth_time"]
        return claims


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
