"""What an attacker tries against sign-in: forged posts, framing, redirects, fixation, hosts."""

import pytest
from django.test import Client

from .conftest import PASSWORD, client_for, sign_in

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _sign_in_only(no_nudge):
    pass


def test_sign_in_without_csrf_token_is_refused(tenant, user):
    client = Client(HTTP_HOST="demo.localhost", enforce_csrf_checks=True)
    response = client.post("/accounts/login/", {"login": user.email, "password": PASSWORD})
    assert response.status_code == 403
    assert "_auth_user_id" not in client.session


def test_pages_cannot_be_framed_and_allow_no_inline_script(tenant):
    response = client_for(tenant).get("/accounts/login/")
    assert response["X-Frame-Options"] == "DENY"
    csp = response["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp
    script_src = next(part for part in csp.split(";") if part.strip().startswith("script-src"))
    assert "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src
    assert "<script>" not in response.text  # only external scripts


@pytest.mark.parametrize("target", [
    "https://evil.example/", "//evil.example/", "http://acme.localhost/", "/\\evil.example",
])
def test_sign_in_never_redirects_off_the_tenant_host(tenant, other_tenant, user, target):
    response = sign_in(client_for(tenant), user.email, next_url=target)
    assert response.status_code == 302
    location = response["Location"]
    assert location.startswith("/") and not location.startswith("//")
    assert "evil" not in location and "acme" not in location


def test_same_host_next_is_followed(tenant, user):
    response = sign_in(client_for(tenant), user.email, next_url="/accounts/password/change/")
    assert response["Location"] == "/accounts/password/change/"


def test_session_id_changes_at_sign_in(tenant, user):
    client = client_for(tenant)
    client.get("/accounts/login/")
    client.session.save()
    before = client.cookies["sessionid"].value if "sessionid" in client.cookies else None
    sign_in(client, user.email)
    assert client.cookies["sessionid"].value != before


def test_spoofed_host_gets_nothing_built_from_it(tenant, user):
    response = Client(HTTP_HOST="attacker.example").get("/accounts/login/")
    assert response.status_code == 404
    assert "attacker.example" not in response.text
    forwarded = Client(HTTP_HOST="demo.localhost", HTTP_X_FORWARDED_HOST="attacker.example")
    page = forwarded.get("/accounts/login/")
    assert page.status_code == 200 and "attacker.example" not in page.text


def test_sign_out_needs_a_post(tenant, user):
    client = client_for(tenant)
    sign_in(client, user.email)
    client.get("/accounts/logout/")
    assert "_auth_user_id" in client.session
    client.post("/accounts/logout/")
    assert "_auth_user_id" not in client.session
