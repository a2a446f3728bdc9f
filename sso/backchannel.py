"""OpenID Connect Back-Channel Logout 1.0: the portal tells applications that a user is signed out.

An application (client) registers a back-channel logout URI (TenantOIDCClient). When the user
signs out, or loses access (reset, password change, deactivation, re-registration required:
sso.revocation), each application the user holds tokens of is owed a logout token. The outbox's
pattern (outbox.mail), for HTTP instead of SMTP:

- record() writes one BackchannelLogout row per application in the caller's transaction and,
  after commit, queues a Celery task per row (outbox.mail.publish: a broker outage is logged,
  never raised);
- deliver() claims a due row (row lock, SKIP LOCKED), signs a fresh logout token (section 2.4)
  with the tenant's signing key, POSTs it (section 2.5) and backs off on failure
  (outbox.mail.retry_delay) until SSO_BACKCHANNEL_MAX_ATTEMPTS;
- sweep() queues again the rows whose attempt is overdue (a lost task, Redis down).

The POST goes only to the registered URI: its host is resolved once, every address it resolves
to must be public (unless SSO_BACKCHANNEL_ALLOW_PRIVATE_ADDRESSES), and the connection is made
to that vetted address (no second look-up that DNS could answer differently); no redirect is
followed; a timeout bounds it. The token names the user by sub only (no sid: the portal does
not put sid in its ID tokens), so an application ends every session of that user.
"""

import ipaddress
import logging
import socket
import time
import uuid
from datetime import timedelta
from urllib.parse import urlencode, urlsplit

import jwt
import urllib3
from allauth.idp.oidc.adapter import get_adapter
from allauth.idp.oidc.models import Token
from django.db import transaction
from django.utils import timezone

from outbox import app_settings as outbox_settings
from outbox.mail import publish, retry_delay
from tenants.resolution import tenant_url
from tenants.scoping import scope_of_user

from . import app_settings
from .models import BackchannelLogout, TenantOIDCClient, TenantSigningKey

logger = logging.getLogger(__name__)

EVENT = "http://schemas.openid.net/event/backchannel-logout"


# --- Recording (web side) -------------------------------------------------------------------

def set_logout_uri(client, uri):
    """The admin's field: where the application receives logout tokens ("" for none)."""
    TenantOIDCClient.objects.filter(client=client).update(backchannel_logout_uri=uri or "")


def logout_uri(client) -> str:
    return TenantOIDCClient.objects.filter(client=client).values_list(
        "backchannel_logout_uri", flat=True).first() or ""


def clients_to_tell(user):
    """The user's tenant's applications that registered a logout URI and that the user used
    (holds, or held until now, a token or code of)."""
    used = Token.objects.filter(user=user, client__isnull=False).values("client_id")
    return TenantOIDCClient.objects.filter(
        tenant_id=user.tenant_id, client_id__in=used,
    ).exclude(backchannel_logout_uri="").select_related("client")


def record(user, reason) -> list[BackchannelLogout]:
    """Owe each application the user used a logout token; sent after the caller commits."""
    if user is None or user.tenant_id is None:
        return []
    adapter = get_adapter()
    # The user's tenant's scope (tenants.scoping), whichever the caller is in: a receiver of a
    # sign-out or of access_ended runs in a request, a platform admin's page or a task.
    with scope_of_user(user):
        rows = [
            BackchannelLogout.objects.create(
                tenant_id=user.tenant_id, client=link.client, reason=reason,
                sub=adapter.get_user_sub(link.client, user), jti=uuid.uuid4().hex,
            )
            for link in clients_to_tell(user)
        ]
    for row in rows:
        transaction.on_commit(lambda pk=row.pk: enqueue(pk), robust=True)
    return rows


def enqueue(row_id, *, countdown=None) -> bool:
    from .tasks import deliver_backchannel_logout

    if countdown and deliver_backchannel_logout.app.conf.task_always_eager:
        return False  # eager mode ignores countdowns (see outbox.mail.enqueue); the sweeper retries
    return publish(deliver_backchannel_logout, (row_id,), countdown=countdown)


# --- The logout token -----------------------------------------------------------------------

def logout_token(row, *, now=None) -> str:
    """Section 2.4: iss, aud, iat, exp, jti, sub, events; never a nonce. RS256 with the tenant's
    current signing key (the one its JWKS publishes), typ logout+jwt (section 2.4)."""
    key = (TenantSigningKey.objects.filter(tenant_id=row.tenant_id, retire_at__isnull=True)
           .order_by("-created_at").first())
    if key is None:
        raise LookupError(f"tenant {row.tenant_id} has no signing key")
    iat = int(now if now is not None else time.time())
    claims = {
        "iss": tenant_url(row.tenant, ""),
        "aud": row.client_id,
        "iat": iat,
        "exp": iat + app_settings.BACKCHANNEL_TOKEN_EXPIRES_IN,
        "jti": row.jti,
        "sub": row.sub,
        "events": {EVENT: {}},
    }
    return jwt.encode(claims, key.private_key_pem, algorithm="RS256",
                      headers={"kid": key.kid, "typ": "logout+jwt"})


# --- Delivery (worker side) -----------------------------------------------------------------

class RefusedDestination(Exception):
    """The URI may not be reached from here (a private address, or not http(s)): not retried."""


def deliver(row_id) -> str:
    """POST the row's logout token once, however often its task runs. Returns the outcome:
    "sent", "retry", "failed" or "skipped" (already handled, or not due)."""
    now = timezone.now()
    due = dict(state=BackchannelLogout.State.PENDING,
               next_attempt_at__lte=now + outbox_settings.EARLY_TOLERANCE)
    with transaction.atomic():
        row = (BackchannelLogout.objects.select_for_update(skip_locked=True, of=("self",))
               .select_related("tenant").filter(pk=row_id, **due).first())
        if row is None:
            return "skipped"
        row.attempts += 1
        uri = logout_uri(row.client_id)
        try:
            if not uri:
                raise RefusedDestination("the application no longer has a logout URI")
            post(uri, logout_token(row))
        except RefusedDestination as exc:
            logger.warning("back-channel logout %s refused: %s", row.pk, exc)
            return _finish(row, BackchannelLogout.State.FAILED, f"refused: {exc}")
        except Exception as exc:  # noqa: BLE001 - any network or HTTP failure is retried
            error = f"{exc.__class__.__name__}: {exc}"[:500]
            if row.attempts >= app_settings.BACKCHANNEL_MAX_ATTEMPTS:
                logger.error("back-channel logout %s failed after %s attempts: %s",
                             row.pk, row.attempts, error)
                return _finish(row, BackchannelLogout.State.FAILED, error)
            delay = retry_delay(row.attempts)
            row.last_error = error
            row.next_attempt_at = now + timedelta(seconds=delay)
            row.save(update_fields=["attempts", "last_error", "next_attempt_at"])
            transaction.on_commit(lambda: enqueue(row.pk, countdown=delay), robust=True)
            return "retry"
        row.sent_at = timezone.now()
        return _finish(row, BackchannelLogout.State.SENT, "")


def _finish(row, state, error):
    row.state = state
    row.last_error = error
    row.save(update_fields=["state", "attempts", "last_error", "sent_at"])
    return str(state)


def sweep(overdue_seconds=None) -> int:
    """Queue again the pending rows whose attempt is overdue; returns how many."""
    if overdue_seconds is None:
        overdue_seconds = outbox_settings.SWEEP_AFTER_SECONDS
    cutoff = timezone.now() - timedelta(seconds=overdue_seconds)
    ids = list(
        BackchannelLogout.objects.filter(state=BackchannelLogout.State.PENDING,
                                         next_attempt_at__lte=cutoff)
        .order_by("next_attempt_at").values_list("pk", flat=True)[:outbox_settings.SWEEP_BATCH]
    )
    return sum(enqueue(pk) for pk in ids)


# --- HTTP -----------------------------------------------------------------------------------

def vetted_addresses(host, port) -> list[str]:
    """The addresses of `host` to connect to; RefusedDestination if any address it resolves to
    is not public (unless SSO_BACKCHANNEL_ALLOW_PRIVATE_ADDRESSES)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)  # gaierror: retried
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    if not app_settings.BACKCHANNEL_ALLOW_PRIVATE_ADDRESSES:
        for address in addresses:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
            if getattr(ip, "ipv4_mapped", None):
                ip = ip.ipv4_mapped
            if not ip.is_global or ip.is_multicast:
                raise RefusedDestination(f"{host} resolves to a non-public address ({ip})")
    return addresses


def post(uri, token):
    """Section 2.5: the token as a form parameter, to the registered URI only. A 200 (or 204)
    is success; anything else, a redirect included (never followed), is an error."""
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RefusedDestination("not an http(s) URI")
    https = parts.scheme == "https"
    port = parts.port or (443 if https else 80)
    name = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    request = dict(
        method="POST", url=(parts.path or "/") + (f"?{parts.query}" if parts.query else ""),
        body=urlencode({"logout_token": token}),
        headers={"Host": name if parts.port is None else f"{name}:{parts.port}",
                 "Content-Type": "application/x-www-form-urlencoded", "Cache-Control": "no-store"},
        redirect=False, assert_same_host=False, preload_content=True,
    )
    error = None
    # Every address is vetted; up to three are tried (e.g. IPv6 unreachable: the IPv4 one), so
    # one POST takes at most three timeouts.
    for address in vetted_addresses(parts.hostname, port)[:3]:
        try:
            response = _post_to(address, port, parts.hostname, https, request)
            break
        except (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError) as exc:
            error = exc
    else:
        raise error
    if response.status not in (200, 204):
        raise OSError(f"the application answered HTTP {response.status}")


def _post_to(address, port, hostname, https, request):
    timeout = urllib3.Timeout(total=app_settings.BACKCHANNEL_TIMEOUT_SECONDS)
    options = dict(timeout=timeout, retries=False, maxsize=1)
    if https:
        # Connected to the vetted address; the certificate is checked for the registered name.
        pool = urllib3.HTTPSConnectionPool(address, port, server_hostname=hostname,
                                           assert_hostname=hostname, **options)
    else:
        pool = urllib3.HTTPConnectionPool(address, port, **options)
    with pool:
        return pool.urlopen(**request)
