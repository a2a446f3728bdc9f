"""Sessions as an attacker uses them: carried to another tenant's host, or planted before sign-in.

A session belongs to the host's tenant (or the platform) it was created on; anywhere else it is
nobody's: the request is signed out and sees none of the session's data (a pending sign-in, a
reset wizard). A session id planted in a victim's browser dies the moment the password is
accepted, before the authenticator step or the registration nudge.

The first tests use Django's test client (they also run in the SQLite smoke run); the ones at the
end replay stolen cookies against two real gunicorn nodes, with host spellings a proxy may pass.
"""

import base64
import logging

import pyotp
import pytest
import requests
from django.contrib.sessions.models import Session
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import User
from audit.models import AuditEvent
from tests.support.clients import PASSWORD, client_for, sign_in
from tests.support.nudge import register_questions
from tests.support.oidc import REDIRECT_URI, authorize_url, make_client

from .conftest import NEEDS_TWO_NODES

NUDGE = "/security-info/keep-your-account-secure/"
OTP_STEP = "/accounts/login/code/"
RESET = "/accounts/password/reset/"
SIGN_IN = "/accounts/login/"
# Pages a stolen session would open; each must treat the foreign session as signed out.
SIGNED_IN_PAGES = ["/", "/accounts/password/change/", "/accounts/reauthenticate/", "/admin/",
                   "/security-info/"]


@pytest.fixture(autouse=True)
def fast_hashing(request, settings):
    # Not for the gunicorn nodes: they are other processes, verifying with the real hashers.
    if "two_nodes" not in request.fixturenames:
        settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def bob(other_tenant, make_user):
    """Tenant B's (acme) organisation admin, with an authenticator and no nudge pending."""
    bob = make_user(other_tenant, "bob@acme.example", is_staff=True, name="Bob Acme", language="en")
    register_questions(bob)
    TOTPDevice.objects.create(user=bob, name="phone", confirmed=True)
    return bob


def code_for(user):
    device = TOTPDevice.objects.get(user=user)
    return pyotp.TOTP(base64.b32encode(device.bin_key).decode()).now()


def signed_in_as_bob(client, bob):
    """Bob through password and code on his own host; returns his session cookie."""
    assert sign_in(client, bob.email)["Location"] == OTP_STEP
    assert client.post(OTP_STEP, {"code": code_for(bob)}).status_code == 302
    assert client.get("/admin/").status_code == 200  # verified: his tenant's admin opens
    return client.cookies["sessionid"].value


def with_cookie(host, session_id):
    """A test client on `host` holding `session_id`, as an attacker sets it."""
    client = client_for(host, HTTP_ACCEPT_LANGUAGE="en")
    client.cookies["sessionid"] = session_id
    return client


def lands_on_sign_in(client, path):
    """Follow the host's own redirects from `path`; the page at the end must be the sign-in form."""
    response = client.get(path, follow=True)
    assert response.redirect_chain, f"{path} answered {response.status_code} without redirecting"
    assert response.redirect_chain[-1][0].startswith(SIGN_IN), response.redirect_chain
    assert response.status_code == 200 and 'name="password"' in response.text
    return response


# --- A session of another tenant --------------------------------------------------------------

@pytest.mark.django_db
@pytest.mark.parametrize("path", SIGNED_IN_PAGES)
def test_another_tenants_session_is_signed_out_on_this_host(path, tenant, bob, caplog):
    stolen = signed_in_as_bob(client_for(bob.tenant), bob)

    with caplog.at_level(logging.WARNING):
        page = lands_on_sign_in(with_cookie("demo.localhost", stolen), path)
    assert "Bob" not in page.text and bob.email not in page.text

    # Logged and audited on the host where it was tried, without the session id in clear.
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("session of another organisation" in message for message in warnings), warnings
    assert not any(stolen in message for message in warnings)
    event = AuditEvent.objects.get(kind="session.foreign", tenant=tenant)
    assert event.user is None and stolen not in str(event.data)
    assert event.data["session_of"] == "other_tenant"

    # Bob's own session is not ended by the attempt: it still works on his host.
    assert Session.objects.filter(session_key=stolen).exists()
    home = with_cookie("acme.localhost", stolen).get("/")
    assert home.status_code == 200 and bob.email in home.text


@pytest.mark.django_db
def test_the_sso_authorize_endpoint_gives_no_code_for_another_tenants_session(tenant, bob):
    stolen = signed_in_as_bob(client_for(bob.tenant), bob)
    client, _secret = make_client(tenant)
    response = with_cookie("demo.localhost", stolen).get(authorize_url(client.id))
    # As for any visitor who is not signed in: this host's sign-in page, no code for Bob.
    assert response.status_code == 302 and response["Location"].startswith(SIGN_IN + "?next=")
    assert not response["Location"].startswith(REDIRECT_URI)


@pytest.mark.django_db
def test_a_pending_sign_in_of_another_tenant_cannot_be_finished_here(tenant, other_tenant, make_user):
    """Carol (B) stopped at the nudge on B's host; her session on A's host neither skips the
    nudge nor shows it: the pending sign-in is not this host's."""
    carol = make_user(other_tenant, "carol@acme.example")
    on_b = client_for(other_tenant)
    assert sign_in(on_b, carol.email)["Location"] == NUDGE
    stolen = on_b.cookies["sessionid"].value

    lands_on_sign_in(with_cookie("demo.localhost", stolen), NUDGE)
    skipped = with_cookie("demo.localhost", stolen).post(NUDGE + "skip/")
    assert skipped.status_code == 302 and skipped["Location"].startswith(SIGN_IN)
    lands_on_sign_in(with_cookie("demo.localhost", stolen), "/")
    assert not AuditEvent.objects.filter(kind="nudge.skipped").exists()
    # On B's host the stage is still hers to finish.
    assert with_cookie("acme.localhost", stolen).get(NUDGE).status_code == 200


@pytest.mark.django_db
def test_a_platform_session_is_signed_out_on_a_tenant_host_and_back(tenant, user):
    User.objects.create_superuser("root@platform.example", PASSWORD)
    on_platform = client_for("localhost")
    assert sign_in(on_platform, "root@platform.example").status_code == 302
    root_session = on_platform.cookies["sessionid"].value
    on_tenant = client_for(tenant)
    assert sign_in(on_tenant, user.email)["Location"] == NUDGE
    assert on_tenant.post(NUDGE + "skip/")["Location"] == "/"
    user_session = on_tenant.cookies["sessionid"].value

    for path in SIGNED_IN_PAGES:
        lands_on_sign_in(with_cookie("demo.localhost", root_session), path)
        lands_on_sign_in(with_cookie("localhost", user_session), path)
    assert AuditEvent.objects.filter(kind="session.foreign", tenant=tenant,
                                     data__session_of="platform").exists()
    assert AuditEvent.objects.filter(kind="session.foreign", tenant=None,
                                     data__session_of="other_tenant").exists()
    # Each still works where it was made.
    assert with_cookie("localhost", root_session).get("/").status_code == 200
    assert with_cookie("demo.localhost", user_session).get("/").status_code == 200


@pytest.mark.django_db
def test_sessions_from_before_the_binding_count_for_their_users_own_tenant_only(
    tenant, user, bob
):
    """Sessions saved before sessions carried their tenant (force_login saves one the same way):
    a signed-in one is kept where its user belongs, signed out anywhere else."""
    register_questions(user)
    own = client_for(tenant)
    own.force_login(user)
    legacy_user_session = own.cookies["sessionid"].value
    carried = client_for(tenant)
    carried.force_login(bob)
    legacy_bob_session = carried.cookies["sessionid"].value

    assert with_cookie("demo.localhost", legacy_user_session).get("/").status_code == 200
    lands_on_sign_in(with_cookie("demo.localhost", legacy_bob_session), "/")
    # Once kept on its user's host, it is that host's: another tenant's host refuses it.
    lands_on_sign_in(with_cookie("acme.localhost", legacy_user_session), "/")


@pytest.mark.django_db
def test_a_pending_sign_in_from_before_the_binding_is_dropped(tenant, user):
    """A session not yet signed in names no tenant by its user: without a binding it is dropped."""
    from accounts.middleware import SESSION_TENANT_KEY

    on_a = client_for(tenant)
    assert sign_in(on_a, user.email)["Location"] == NUDGE
    key = on_a.cookies["sessionid"].value
    stored = Session.objects.get(session_key=key)
    data = stored.get_decoded()
    del data[SESSION_TENANT_KEY]  # as saved before the deploy
    Session.objects.save(key, data, stored.expire_date)
    from django.core.cache import cache
    cache.clear()  # the session's cached copy too

    lands_on_sign_in(with_cookie("demo.localhost", key), NUDGE)


# --- A session id planted before sign-in ------------------------------------------------------

def planted_session_id(host):
    """The attacker's own fresh session on `host` (starting a reset makes one), to plant."""
    attacker = client_for(host)
    assert attacker.post(RESET, {"email": "nobody@example.com"}).status_code == 302
    return attacker.cookies["sessionid"].value


def sent_to_sign_in(response):
    assert response.status_code == 302, f"answered {response.status_code}, not sent to sign in"
    assert response["Location"].startswith(SIGN_IN), response["Location"]


@pytest.mark.django_db
@pytest.mark.parametrize("planted_on", ["demo.localhost", "acme.localhost"])
def test_a_planted_session_id_cannot_skip_the_victims_nudge(planted_on, tenant, other_tenant, user):
    planted = planted_session_id(planted_on)
    victim = with_cookie("demo.localhost", planted)
    assert sign_in(victim, user.email)["Location"] == NUDGE

    # Each attempt replays the planted id (the answers drop the cookie; a script keeps it).
    sent_to_sign_in(with_cookie("demo.localhost", planted).get(NUDGE))
    sent_to_sign_in(with_cookie("demo.localhost", planted).post(NUDGE + "skip/"))
    lands_on_sign_in(with_cookie("demo.localhost", planted), "/")
    assert not AuditEvent.objects.filter(kind="nudge.skipped").exists()
    assert victim.cookies["sessionid"].value != planted
    if planted_on == "demo.localhost":
        assert not Session.objects.filter(session_key=planted).exists()  # dead at once
    # The victim goes on as before.
    assert victim.post(NUDGE + "skip/")["Location"] == "/"
    assert user.email in victim.get("/").text


@pytest.mark.django_db
def test_a_planted_session_id_cannot_pass_the_victims_code_step(tenant, make_user):
    boss = make_user(tenant, "boss@demo.example", is_staff=True)
    register_questions(boss)
    TOTPDevice.objects.create(user=boss, name="phone", confirmed=True)
    planted = planted_session_id("demo.localhost")
    victim = with_cookie("demo.localhost", planted)
    assert sign_in(victim, boss.email)["Location"] == OTP_STEP

    # Even with the right code (read over the victim's shoulder) the old id gets nowhere.
    sent_to_sign_in(with_cookie("demo.localhost", planted).get(OTP_STEP))
    sent_to_sign_in(with_cookie("demo.localhost", planted).post(OTP_STEP, {"code": code_for(boss)}))
    lands_on_sign_in(with_cookie("demo.localhost", planted), "/admin/")
    assert not Session.objects.filter(session_key=planted).exists()
    # The code was not spent on the attacker: the victim's goes through.
    assert victim.post(OTP_STEP, {"code": code_for(boss)})["Location"] == "/"
    assert victim.get("/admin/").status_code == 200


# --- Two real nodes, stolen cookies replayed with host spellings ------------------------------

class Replay:
    """An attacker's script: every request carries the stolen cookie, whatever came back."""

    def __init__(self, session_id):
        self.session_id = session_id

    def get(self, node, host, path):
        return requests.get(node.base + path, allow_redirects=False, timeout=10, headers={
            "Host": host, "Cookie": f"sessionid={self.session_id}", "Accept-Language": "en"})

    def post(self, node, host, path, data):
        # Django's CSRF check wants a token and its cookie; the attacker has both of their own.
        token = "a" * 32
        return requests.post(node.base + path, data={**data, "csrfmiddlewaretoken": token},
                             allow_redirects=False, timeout=10, headers={
                                 "Host": host, "Accept-Language": "en", "Referer": f"http://{host}/",
                                 "Cookie": f"sessionid={self.session_id}; csrftoken={token}"})

    @staticmethod
    def sent_to_sign_in(response):
        assert response.status_code == 302, f"answered {response.status_code}, not sent to sign in"
        assert response.headers["Location"].startswith(SIGN_IN), response.headers["Location"]

    def lands_on_sign_in(self, node, host, path):
        response = self.get(node, host, path)
        for _ in range(5):
            if response.status_code != 302:
                break
            location = response.headers["Location"]
            assert location.startswith("/"), location  # never off the host
            response = self.get(node, host, location)
        assert response.status_code == 200 and 'name="password"' in response.text, (
            host, path, response.status_code, response.url)
        return response


def bob_on_node(node, browser_for, bob):
    browser = browser_for("acme.localhost")
    assert browser.sign_in(node, bob.email, PASSWORD).headers["Location"] == OTP_STEP
    assert browser.post(node, OTP_STEP, {"code": code_for(bob)}).status_code == 302
    assert browser.get(node, "/admin/").status_code == 200
    return browser.http.cookies["sessionid"]


class TestOnTwoNodes:
    pytestmark = NEEDS_TWO_NODES

    def test_another_tenants_session_is_refused_on_both_nodes_and_every_host_spelling(
        self, two_nodes, browser_for, tenant, bob
    ):
        stolen = Replay(bob_on_node(two_nodes[0], browser_for, bob))
        client, _secret = make_client(tenant)
        for node in two_nodes:
            for host in ("demo.localhost", "DEMO.LOCALHOST", "demo.localhost.", "Demo.Localhost:80"):
                for path in SIGNED_IN_PAGES:
                    page = stolen.lands_on_sign_in(node, host, path)
                    assert bob.email not in page.text and "Bob" not in page.text
                stolen.sent_to_sign_in(stolen.get(node, host, authorize_url(client.id)))
        # Bob's session lives on, on his host however spelled, on either node.
        for node in two_nodes:
            for host in ("acme.localhost", "ACME.localhost", "acme.localhost."):
                home = stolen.get(node, host, "/")
                assert home.status_code == 200 and bob.email in home.text
        # Audited once for all those attempts on both nodes (the log line comes each time).
        assert AuditEvent.objects.filter(kind="session.foreign", tenant=tenant).count() == 1

    def test_a_platform_session_is_refused_on_a_tenant_host_and_back(
        self, two_nodes, browser_for, tenant, user
    ):
        User.objects.create_superuser("root@platform.example", PASSWORD)
        register_questions(user)
        platform = browser_for("localhost")
        assert platform.sign_in(two_nodes[0], "root@platform.example", PASSWORD).status_code == 302
        employee = browser_for("demo.localhost")
        assert employee.sign_in(two_nodes[1], user.email, PASSWORD).headers["Location"] == "/"
        root_session = Replay(platform.http.cookies["sessionid"])
        user_session = Replay(employee.http.cookies["sessionid"])
        for node in two_nodes:
            for path in SIGNED_IN_PAGES:
                root_session.lands_on_sign_in(node, "DEMO.localhost.", path)
                user_session.lands_on_sign_in(node, "LOCALHOST", path)
            assert root_session.get(node, "localhost", "/").status_code == 200
            assert user_session.get(node, "demo.localhost", "/").status_code == 200

    def test_a_planted_session_id_dies_at_the_password_on_either_node(
        self, two_nodes, browser_for, tenant, make_user
    ):
        first, second = two_nodes
        boss = make_user(tenant, "boss@demo.example", is_staff=True)
        TOTPDevice.objects.create(user=boss, name="phone", confirmed=True)
        victim = make_user(tenant, "victim@demo.example")  # no methods: the nudge is next
        for target, stage in ((victim, NUDGE), (boss, OTP_STEP)):
            attacker = browser_for("demo.localhost")
            assert attacker.post(first, RESET, {"email": "nobody@example.com"}).status_code == 302
            planted = attacker.http.cookies["sessionid"]
            browser = browser_for("demo.localhost")
            browser.http.cookies.set("sessionid", planted, domain="demo.localhost", path="/")
            assert browser.sign_in(second, target.email, PASSWORD).headers["Location"] == stage

            replay = Replay(planted)
            for node in two_nodes:
                replay.sent_to_sign_in(replay.get(node, "demo.localhost", stage))
                replay.sent_to_sign_in(replay.post(node, "demo.localhost", NUDGE + "skip/", {}))
                replay.sent_to_sign_in(
                    replay.post(node, "demo.localhost", OTP_STEP, {"code": code_for(boss)}))
                replay.lands_on_sign_in(node, "demo.localhost", "/")
            assert browser.http.cookies["sessionid"] != planted
            # The victim carries on, on the other node.
            assert browser.get(first, stage).status_code == 200
