"""Ending access everywhere, and OpenID Connect Back-Channel Logout 1.0, with the real parts: a
Celery worker on Redis, and an application (a relying party's logout endpoint on loopback) that
checks each logout token against the tenant's JWKS as the specification tells it to.

A reset, a password change, a deactivation and an admin's "require re-registration" end every
access the old credentials granted: the refresh token is refused at the token endpoint
(invalid_grant), the access token at userinfo (401), and each application the user used gets a
logout token. A sign-out sends the logout token too. The logout token is a row first (written
with the event), so Redis or the application being down delays it but never loses it.
"""

import pyotp
import pytest
from django.conf import settings as django_settings
from django.urls import reverse

from accounts.models import User
from recovery import services
from sso import backchannel
from sso.models import BackchannelLogout
from sso.tasks import sweep_backchannel_logouts
from tests.support.celery_worker import broker, wait_until, worker
from tests.support.clients import PASSWORD, client_for, sign_in
from tests.support.faults import PrivateRedis
from tests.support.oidc import TOKEN_PATH, tokens_for

from .conftest import verified_admin_client

pytestmark = [
    pytest.mark.redis,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not django_settings.REDIS_URL, reason="needs REDIS_URL"),
]

USERINFO = "/identity/o/api/userinfo"
NEW = "Fresh-meadow-horizon-71"
EVENT = "http://schemas.openid.net/event/backchannel-logout"


def refresh(browser, client, secret, refresh_token):
    return browser.post(TOKEN_PATH, {
        "grant_type": "refresh_token", "refresh_token": refresh_token,
        "client_id": client.id, "client_secret": secret,
    })


def userinfo(browser, access_token):
    return browser.get(USERINFO, HTTP_AUTHORIZATION=f"Bearer {access_token}")


def signed_in_app(user, client, secret):
    """The user signed in to the application: (browser, tokens); the tokens work."""
    browser = client_for(user.tenant)
    tokens = tokens_for(browser, user, client, secret)
    assert userinfo(browser, tokens["access_token"]).status_code == 200
    return browser, tokens


def assert_tokens_refused(client, secret, tokens, tenant):
    browser = client_for(tenant)
    refused = refresh(browser, client, secret, tokens["refresh_token"])
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
    assert userinfo(browser, tokens["access_token"]).status_code == 401


def assert_logout_token_for(receiver, user, client):
    receiver.wait_for(1)
    assert receiver.rejected == []
    [claims] = receiver.accepted
    assert claims["sub"] == user.subject_identifier and claims["aud"] == client.id
    assert claims["events"] == {EVENT: {}} and "nonce" not in claims


def reset_password(user):
    """The self-service reset with the authenticator app, as the user walks it."""
    device = services.start_authenticator_setup(user)
    services.confirm_authenticator(device)
    totp = pyotp.TOTP(services.authenticator_secret(device))
    browser = client_for(user.tenant)
    assert browser.post("/accounts/password/reset/", {"email": user.email}).status_code == 302
    assert browser.post("/accounts/password/reset/method/", {"method": "authenticator"}).status_code == 302
    assert browser.post("/accounts/password/reset/verify/", {"code": totp.now()}).status_code == 302
    done = browser.post("/accounts/password/reset/password/", {"new_password1": NEW, "new_password2": NEW})
    assert done["Location"] == "/accounts/password/reset/done/"


# --- Discovery --------------------------------------------------------------------------------

def test_discovery_advertises_back_channel_logout_by_sub_only(tenant):
    doc = client_for(tenant).get("/.well-known/openid-configuration").json()
    assert doc["backchannel_logout_supported"] is True
    # The token names the user, not the session (no sid in ID tokens).
    assert not doc.get("backchannel_logout_session_supported", False)


# --- What ends every access -------------------------------------------------------------------

def test_a_reset_refuses_the_old_tokens_and_tells_the_app(user, app):
    client, secret, receiver = app
    _browser, tokens = signed_in_app(user, client, secret)
    with worker():
        reset_password(user)
        assert_tokens_refused(client, secret, tokens, user.tenant)
        assert_logout_token_for(receiver, user, client)
    assert BackchannelLogout.objects.get().reason == "password_reset"


def test_changing_the_password_signs_out_everywhere_else_and_tells_the_app(user, app):
    # "Sign out everywhere" has no page of its own: the password change is its path
    # (accounts.usersessions.end_access), and it keeps only the browser that changed it.
    client, secret, receiver = app
    browser, tokens = signed_in_app(user, client, secret)
    with worker():
        changed = browser.post("/accounts/password/change/", {
            "oldpassword": PASSWORD, "password1": NEW, "password2": NEW,
        })
        assert changed.status_code == 302
        assert_tokens_refused(client, secret, tokens, user.tenant)
        assert_logout_token_for(receiver, user, client)
    assert browser.get("/").status_code == 200


def test_deactivated_then_reactivated_the_old_tokens_stay_dead(user, app, org_admin):
    # The admin's change form (and the CSV import) save the user: the save is the deactivation.
    client, secret, receiver = app
    _browser, tokens = signed_in_app(user, client, secret)
    admin = verified_admin_client(org_admin)
    url = reverse("admin:accounts_user_change", args=[user.pk])
    form = {"email": user.email, "name": user.name, "language": "ja", "is_staff": ""}
    with worker():
        assert admin.post(url, {**form, "is_active": ""}).status_code == 302
        assert_logout_token_for(receiver, user, client)
        # Reactivated (a mistake, a rehire): what the account held before is not revived.
        assert admin.post(url, {**form, "is_active": "on"}).status_code == 302
        assert User.objects.get(pk=user.pk).is_active
        assert_tokens_refused(client, secret, tokens, user.tenant)
    assert BackchannelLogout.objects.get().reason == "deactivated"


def test_the_deactivate_action_and_reregistration_end_the_tokens_too(user, make_user, app, org_admin):
    client, secret, receiver = app
    colleague = make_user(user.tenant, "taro@demo.example")
    _b, tokens = signed_in_app(user, client, secret)
    _b, colleague_tokens = signed_in_app(colleague, client, secret)
    admin = verified_admin_client(org_admin)
    with worker():
        admin.post("/admin/accounts/user/", {"action": "deactivate", "_selected_action": [user.pk]})
        admin.post("/admin/accounts/user/", {"action": "require_reregistration",
                                             "_selected_action": [colleague.pk]})
        receiver.wait_for(2)
        User.objects.filter(pk=user.pk).update(is_active=True)
        assert_tokens_refused(client, secret, tokens, user.tenant)
        assert_tokens_refused(client, secret, colleague_tokens, user.tenant)
    assert receiver.rejected == []
    assert sorted(c["sub"] for c in receiver.accepted) == sorted([user.subject_identifier, colleague.subject_identifier])


def test_signing_out_tells_the_app_and_only_the_apps_the_user_used(user, make_user, app):
    client, secret, receiver = app
    browser, _tokens = signed_in_app(user, client, secret)
    stranger = client_for(user.tenant)
    make_user(user.tenant, "taro@demo.example")
    sign_in(stranger, "taro@demo.example")  # never used the application
    with worker():
        stranger.post("/accounts/logout/")
        browser.post("/accounts/logout/")
        assert_logout_token_for(receiver, user, client)
    assert BackchannelLogout.objects.get().reason == "signed_out"


# --- Nothing lost -----------------------------------------------------------------------------

def test_with_redis_down_the_logout_token_is_delivered_once_redis_is_back(user, app):
    client, secret, receiver = app
    _browser, tokens = signed_in_app(user, client, secret)
    redis_server = PrivateRedis().start()
    try:
        with broker(redis_server.url):
            redis_server.stop()  # the broker is down when the access ends
            reset_password(user)
            assert_tokens_refused(client, secret, tokens, user.tenant)  # at once, Redis or not
            row = BackchannelLogout.objects.get()
            assert row.state == "pending" and receiver.posts == 0

            redis_server.start()  # back: the beat's next sweep queues the overdue row
            with worker():
                sweep_backchannel_logouts.delay(0)
                assert_logout_token_for(receiver, user, client)
                wait_until(lambda: BackchannelLogout.objects.get().state == "sent")
    finally:
        redis_server.stop()


def test_an_app_that_is_down_gets_the_logout_token_when_it_is_back(user, app, settings):
    settings.OUTBOX_RETRY_BASE_SECONDS = 0.3
    client, secret, receiver = app
    browser, _tokens = signed_in_app(user, client, secret)
    receiver.answer_status = 503
    with worker():
        browser.post("/accounts/logout/")
        wait_until(lambda: receiver.posts >= 2)  # refused, then tried again after a wait
        receiver.answer_status = None
        assert_logout_token_for(receiver, user, client)
        wait_until(lambda: BackchannelLogout.objects.get().state == "sent")
    row = BackchannelLogout.objects.get()
    assert row.attempts >= 3 and row.last_error == ""


# --- Where the portal posts -------------------------------------------------------------------

def test_a_logout_uri_resolving_to_a_private_address_is_refused(user, app, settings, org_admin):
    client, secret, receiver = app
    browser, _tokens = signed_in_app(user, client, secret)
    settings.SSO_BACKCHANNEL_ALLOW_PRIVATE_ADDRESSES = False  # production
    # A name, not an address: what counts is what it resolves to (here 127.0.0.1).
    backchannel.set_logout_uri(client, receiver.uri.replace("127.0.0.1", "localhost"))
    with worker():
        browser.post("/accounts/logout/")
        wait_until(lambda: BackchannelLogout.objects.get().state == "failed")
    row = BackchannelLogout.objects.get()
    assert "non-public address" in row.last_error and row.attempts == 1
    assert receiver.posts == 0
    # The organisation's admin sees why the application was not told.
    listing = verified_admin_client(org_admin).get("/admin/sso/backchannellogout/")
    assert listing.status_code == 200 and "non-public address" in listing.content.decode()


def test_a_redirect_from_the_app_is_not_followed(user, app, settings):
    settings.SSO_BACKCHANNEL_MAX_ATTEMPTS = 1
    client, secret, receiver = app
    browser, _tokens = signed_in_app(user, client, secret)
    receiver.redirect_to = f"http://127.0.0.1:{receiver.port}/elsewhere"
    with worker():
        browser.post("/accounts/logout/")
        wait_until(lambda: BackchannelLogout.objects.get().state == "failed")
    assert receiver.paths == ["/backchannel-logout"]  # /elsewhere never asked
    assert "HTTP 302" in BackchannelLogout.objects.get().last_error


def test_the_admin_registers_the_logout_uri_https_only_off_loopback(tenant, app, org_admin):
    client, _secret, _receiver = app
    admin = verified_admin_client(org_admin)
    url = f"/admin/allauth_idp_oidc/client/{client.pk}/change/"
    form = {
        "name": client.name, "redirect_uris": "\n".join(client.get_redirect_uris()),
        "allowed_scopes": ["openid", "email", "profile"], "post_logout_uris": "",
        "skip_consent": "on",
    }
    refused = admin.post(url, {**form, "backchannel_logout_uri": "http://teams.example/logout"})
    assert refused.status_code == 200 and "use https" in refused.content.decode()
    saved = admin.post(url, {**form, "backchannel_logout_uri": "https://teams.example/bc-logout"})
    assert saved.status_code == 302
    assert backchannel.logout_uri(client) == "https://teams.example/bc-logout"
    assert "https://teams.example/bc-logout" in admin.get(url).content.decode()
