"""What an attacker tries against sign-in: forged posts, framing, redirects, fixation, hosts."""

import pytest
from django.test import Client

from accounts.models import User
from tests.support.clients import PASSWORD, client_for, sign_in

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


# --- CSRF on every state-changing POST -------------------------------------------------------

# Views that must take cross-site POSTs by design: OAuth 2.0 / OIDC API endpoints, called by
# client applications without a browser session and authenticated by client credentials or a
# bearer token (RFC 6749, OIDC Core). The portal's checked views shadow allauth's on the same
# paths, so both names appear in the URLconf.
CSRF_EXEMPT_BY_DESIGN = {
    "portal_oidc_token", "portal_oidc_revoke", "portal_oidc_introspect",
    "idp:oidc:token", "idp:oidc:revoke", "idp:oidc:introspect", "idp:oidc:userinfo",
    "idp:oidc:device_code",
}
# Exempt from the middleware but checking CSRF in the view on their browser POSTs (allauth's
# consent and sign-out pages): the walk below still expects them to refuse a forged POST, each
# with the answer it gives: the incomplete authorization request sent back (302), the sign-out
# page shown again (200), the device page refused (403).
CSRF_CHECKED_IN_THE_VIEW = {
    "portal_oidc_authorize": 302, "idp:oidc:authorization": 302,
    "portal_oidc_logout": 200, "idp:oidc:logout": 200,
    "idp:oidc:device_authorization": 403,
}


def _url_patterns(patterns=None, prefix="", namespace=""):
    """Every URL pattern as (path, full name, view), walking includes."""
    from django.urls import URLResolver, get_resolver

    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            yield from _url_patterns(pattern.url_patterns, prefix + str(pattern.pattern), inner)
        else:
            yield prefix + str(pattern.pattern), f"{namespace}{pattern.name}", pattern.callback


def _plain_paths():
    """Paths without parameters, as a browser would post to them."""
    for route, name, _view in _url_patterns():
        path = "/" + route.replace("^", "").replace("$", "").replace("\\Z", "")
        if not any(char in path for char in "<>()[]?*+\\|"):
            yield path, name


def test_no_view_is_csrf_exempt_unless_by_design():
    exempt = {name for _route, name, view in _url_patterns() if getattr(view, "csrf_exempt", False)}
    assert exempt <= CSRF_EXEMPT_BY_DESIGN | set(CSRF_CHECKED_IN_THE_VIEW)


def test_every_post_without_a_csrf_token_is_refused(tenant, user):
    superuser = User.objects.create_superuser("root@platform.example", PASSWORD)
    paths = sorted(set(_plain_paths()))
    assert len(paths) > 20  # the walk found the admin and allauth URLs
    for host, person in (("demo.localhost", user), ("localhost", superuser)):
        victim = Client(HTTP_HOST=host, enforce_csrf_checks=True)
        victim.force_login(person)
        victim.get("/accounts/password/change/")  # a form page: the browser now holds a CSRF cookie
        assert "csrftoken" in victim.cookies
        for path, name in paths:
            if name in CSRF_EXEMPT_BY_DESIGN:
                continue
            response = victim.post(path, {"password": "x", "language": "en", "next": "/", "action": "logout"})
            # A view that checks CSRF itself answers with its page again or sends an incomplete
            # request back; either way nothing happened (still signed in, below).
            refused_with = CSRF_CHECKED_IN_THE_VIEW.get(name, 403)
            assert response.status_code == refused_with, (host, path, response.status_code)
            assert victim.session.get("_auth_user_id") == str(person.pk), (host, path)
        assert "django_language" not in victim.cookies


# --- Secrets never in logs, audit data, sessions or pages -----------------------------------

WRONG_PASSWORD = "Wrong-guess-Qz81x"
NEW_PASSWORD = "Fresh-secret-Kw93v"
PASSWORD_AS_NAME = "Mistyped-secret-Jx47"  # a password typed in the sign-in name field


def _password_flow(user, secrets, shown_to_typist):
    """Sign-in mistakes, sign-in, re-authentication, password change, sign-in with the new one."""
    secrets += [PASSWORD, WRONG_PASSWORD, NEW_PASSWORD, PASSWORD_AS_NAME]
    shown_to_typist.append(PASSWORD_AS_NAME)  # the sign-in name is shown back, to fix a typo
    client = client_for(user.tenant)
    forged = Client(HTTP_HOST="demo.localhost", enforce_csrf_checks=True)
    yield forged.post("/accounts/login/", {"login": user.email, "password": PASSWORD})
    yield sign_in(client, user.email, WRONG_PASSWORD)
    yield sign_in(client, PASSWORD_AS_NAME, PASSWORD)
    yield sign_in(client, user.email, PASSWORD)
    yield client.post("/accounts/reauthenticate/", {"password": WRONG_PASSWORD})
    yield client.post("/accounts/reauthenticate/", {"password": PASSWORD})
    yield client.post("/accounts/password/change/", {
        "oldpassword": WRONG_PASSWORD, "password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    yield client.post("/accounts/password/change/", {
        "oldpassword": PASSWORD, "password1": NEW_PASSWORD, "password2": NEW_PASSWORD + "x"})
    changed = client.post("/accounts/password/change/", {
        "oldpassword": PASSWORD, "password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert changed.status_code == 302
    yield changed
    yield client.post("/accounts/logout/")
    signed_in = sign_in(client, user.email, NEW_PASSWORD)
    assert signed_in.status_code == 302
    yield signed_in


ANSWERS = ["Kurobune-answer-71", "Umeboshi-answer-72", "Shinkansen-answer-73"]


def _registration_flow(user, secrets, shown_to_typist):
    """Security questions (a refused attempt, then registered) and the authenticator app."""
    import re

    import pyotp

    from recovery.models import SecurityQuestion

    secrets += ANSWERS
    client = client_for(user.tenant)
    assert sign_in(client, user.email).status_code == 302
    questions = SecurityQuestion.objects.filter(tenant=None).order_by("position")[:3]

    def question_data(answers):
        return {key: value for number, (question, answer) in enumerate(zip(questions, answers), start=1)
                for key, value in ((f"question_{number}", question.pk), (f"answer_{number}", answer))}

    yield client.post("/security-info/methods/", {"method": "questions"})
    yield client.post("/security-info/questions/", question_data([ANSWERS[0], ANSWERS[0], ANSWERS[2]]))
    registered = client.post("/security-info/questions/", question_data(ANSWERS))
    assert registered.status_code == 302
    yield registered

    assert client.post("/security-info/authenticator/").status_code == 302
    scan = client.get("/security-info/authenticator/scan/")  # shows the key once, by design
    secret = re.search(r'data-copy-value="([A-Z2-7]+)"', scan.text).group(1)
    secrets.append(secret)
    yield client.get("/security-info/authenticator/code/")
    yield client.post("/security-info/authenticator/code/", {"code": "abc"})
    confirmed = client.post("/security-info/authenticator/code/", {"code": pyotp.TOTP(secret).now()})
    assert confirmed.status_code == 302
    yield confirmed
    yield client.get("/security-info/")
    yield client.get("/security-info/authenticator/scan/")  # never shown again


RESET_ANSWERS = ["Hakodate-reset-81", "Tanuki-reset-82", "Yuzu-reset-83"]
WRONG_RESET_ANSWER = "Wrong-guess-reset-84"
RESET_PASSWORD = "Reset-meadow-horizon-85"
SECOND_RESET_PASSWORD = "Second-reset-lantern-86"


def _reset_flow(user, secrets, shown_to_typist):
    """The reset wizard twice: security questions (a wrong try, then right), then the
    authenticator app (a wrong code, then right), each ending with a new password."""
    import pyotp
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from recovery import services
    from recovery.models import ResetThrottle, SecurityQuestion, SecurityQuestionsDevice
    from tests.support.reset import METHOD, NEW_PASSWORD, RESET, VERIFY, Page

    questions = list(SecurityQuestion.objects.filter(tenant=None).order_by("position")[:3])
    services.register_security_questions(user, dict(zip(questions, RESET_ANSWERS, strict=True)))
    device = services.start_authenticator_setup(user)
    services.confirm_authenticator(device)
    totp = pyotp.TOTP(services.authenticator_secret(device))
    # Codes are typed with a space ("123 456", as the form allows): a bare six-digit number
    # could turn up by chance in logged timestamps and make the test fail for nothing.
    right_code = totp.now()
    wrong_code = f"{(int(right_code) + 500_000) % 1_000_000:06d}"
    typed = lambda code: f"{code[:3]} {code[3:]}"  # noqa: E731
    secrets += [*RESET_ANSWERS, WRONG_RESET_ANSWER, RESET_PASSWORD, SECOND_RESET_PASSWORD,
                typed(right_code), typed(wrong_code), services.authenticator_secret(device)]
    # Nothing typed here is shown back: a refused code's field and the answers' fields render
    # empty.
    answer_of = {text: answer for question, answer in zip(questions, RESET_ANSWERS, strict=True)
                 for text in (question.text_ja, question.text_en)}

    client = client_for(user.tenant)
    yield client.post(RESET, {"email": user.email})
    yield client.post(METHOD, {"method": "questions"})
    page = client.get(VERIFY)
    yield page
    fields = {key.removeprefix("id_"): answer_of[question]
              for key, question in Page(page).labels.items() if key and key.startswith("id_answer_")}
    assert len(fields) == 3
    yield client.post(VERIFY, {**fields, next(iter(fields)): WRONG_RESET_ANSWER})
    # django-otp throttles the device after the failure (the name's counter mirrors it); let
    # its short wait pass.
    SecurityQuestionsDevice.objects.filter(user=user).update(throttling_failure_timestamp=None)
    ResetThrottle.objects.update(last_failure_at=None)
    passed = client.post(VERIFY, fields)
    assert passed.status_code == 302, passed.status_code
    yield passed
    yield client.get(NEW_PASSWORD)
    yield client.post(NEW_PASSWORD, {"new_password1": RESET_PASSWORD, "new_password2": "x" + RESET_PASSWORD})
    done = client.post(NEW_PASSWORD, {"new_password1": RESET_PASSWORD, "new_password2": RESET_PASSWORD})
    assert done.status_code == 302, done.status_code
    yield done
    signed_in = sign_in(client_for(user.tenant), user.email, RESET_PASSWORD)
    assert signed_in.status_code == 302
    yield signed_in

    client = client_for(user.tenant, HTTP_ACCEPT_LANGUAGE="en")
    yield client.post(RESET, {"email": user.email})
    yield client.post(METHOD, {"method": "authenticator"})
    yield client.post(VERIFY, {"code": typed(wrong_code)})
    TOTPDevice.objects.filter(user=user).update(throttling_failure_timestamp=None)
    ResetThrottle.objects.update(last_failure_at=None)
    passed = client.post(VERIFY, {"code": typed(right_code)})
    assert passed.status_code == 302, passed.status_code
    yield passed
    done = client.post(NEW_PASSWORD, {"new_password1": SECOND_RESET_PASSWORD,
                                      "new_password2": SECOND_RESET_PASSWORD})
    assert done.status_code == 302, done.status_code
    yield done
    yield client.get(done["Location"])
    assert sign_in(client_for(user.tenant), user.email, SECOND_RESET_PASSWORD).status_code == 302


# Each flow lists the secrets it types or is given, and what it may show back to the typist.
SECRET_FLOWS = [_password_flow, _registration_flow, _reset_flow]


@pytest.mark.parametrize("flow", SECRET_FLOWS, ids=[flow.__name__ for flow in SECRET_FLOWS])
def test_secrets_never_reach_logs_audit_data_sessions_or_pages(caplog, tenant, user, flow):
    import logging

    from django.contrib.sessions.models import Session
    from django.db import connection
    from django.views.debug import ExceptionReporter

    from audit.models import AuditEvent

    for name in ["", *logging.root.manager.loggerDict]:  # every logger, SQL with parameters too
        caplog.set_level(logging.DEBUG, logger=name)
    secrets, shown_to_typist = [], []
    connection.force_debug_cursor = True
    try:
        pages = [response.content.decode() for response in flow(user, secrets, shown_to_typist)]
    finally:
        connection.force_debug_cursor = False

    logged = [caplog.text]
    for record in caplog.records:
        logged += [record.getMessage(), repr(record.args), record.exc_text or ""]
        if record.exc_info and getattr(record, "request", None) is not None:
            # What an error e-mail to the admins would contain.
            logged.append(ExceptionReporter(record.request, *record.exc_info).get_traceback_text())
    assert any("accounts_auditevent" in text for text in logged)  # the capture saw the flow's SQL
    stored = [repr(list(AuditEvent.objects.values()))]
    stored += [repr(session.get_decoded()) for session in Session.objects.all()]
    for secret in secrets:
        assert not any(secret in text for text in logged), f"{secret} in the logs"
        assert not any(secret in text for text in stored), f"{secret} stored"
        if secret not in shown_to_typist:
            assert not any(secret in page for page in pages), f"{secret} shown on a page"


# --- Guessing codes and answers ----------------------------------------------------------------

def _authenticator(user):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    return device, lambda: device.verify_token("000000")


def _security_questions(user):
    from recovery.models import SecurityQuestionsDevice

    device = SecurityQuestionsDevice.objects.create(user=user, name="questions")
    return device, lambda: device.verify_answers({1: "guess"})


@pytest.mark.parametrize("make_device", [_authenticator, _security_questions])
def test_a_guesser_gets_at_most_ten_tries_per_device_in_15_minutes(monkeypatch, user, make_device):
    from datetime import timedelta

    from django.utils import timezone

    device, guess_wrong = make_device(user)
    start = timezone.now()
    clock = {"now": start}
    monkeypatch.setattr(timezone, "now", lambda: clock["now"])  # simulated time, real throttle
    evaluated = 0
    for second in range(15 * 60):  # a guess whenever the throttle lets one through
        clock["now"] = start + timedelta(seconds=second)
        if device.verify_is_allowed()[0]:
            evaluated += 1
            assert guess_wrong() is False
            device.refresh_from_db()
    assert 1 < evaluated <= 10
    assert device.throttling_failure_count == evaluated
    assert device.verify_is_allowed()[0] is False  # and still locked at the end


def test_session_id_changes_at_step_up_to_a_verified_device(tenant, user):
    from django_otp.oath import totp
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    client = client_for(tenant)
    sign_in(client, user.email)
    before = client.cookies["sessionid"].value
    code = f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):0{device.digits}d}"
    response = client.post("/accounts/verify/", {"code": code})
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.session.get("otp_device_id")  # verified...
    assert client.cookies["sessionid"].value != before  # ...in a new session id
