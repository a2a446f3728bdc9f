"""Foundation: tenants by host, sign-in scoped to the tenant, policy defaults, deploy checks."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from accounts.models import User
from tenants.models import TenantPolicy
from tests.support.clients import PASSWORD, client_for, sign_in

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db
def test_tenant_is_resolved_from_the_host(settings, tenant, other_tenant):
    page = client_for(tenant).get("/accounts/login/")
    assert page.status_code == 200
    assert "Demo Corporation" in page.text
    assert "ACME Ltd." not in page.text
    settings.PORTAL_PUBLIC_PORT = "8000"  # as `make run` serves it
    page = client_for("acme.localhost:8000").get("/accounts/login/")
    assert "ACME Ltd." in page.text
    assert "Demo Corporation" not in page.text


@pytest.mark.django_db
def test_unknown_host_gets_a_plain_404(tenant):
    page = client_for("evil.localhost").get("/accounts/login/")
    assert page.status_code == 404
    assert page["Content-Type"].startswith("text/plain")
    assert "Demo Corporation" not in page.text
    assert "<form" not in page.text


@pytest.mark.django_db
def test_inactive_tenant_says_the_organisation_is_disabled(tenant, user):
    tenant.is_active = False
    tenant.save()
    page = client_for(tenant).get("/accounts/login/")
    assert page.status_code == 403
    assert "This organisation is disabled" in page.text
    assert "この組織は無効になっています" in page.text
    assert sign_in(client_for(tenant), user.email).status_code == 403


@pytest.mark.django_db
def test_employee_signs_in_on_their_tenant(tenant, user):
    # The registration nudge that would come first has its own tests (tests/recovery/test_nudge.py).
    tenant.policy.nudge_enabled = False
    tenant.policy.save()
    client = client_for(tenant)
    response = sign_in(client, user.email)
    assert response.status_code == 302
    home = client.get("/")
    assert home.status_code == 200
    assert user.email in home.text


@pytest.mark.django_db
def test_sign_in_name_is_case_insensitive(tenant, user):
    client = client_for(tenant)
    assert sign_in(client, user.email.upper()).status_code == 302


@pytest.mark.django_db
def test_other_tenants_user_is_refused_like_a_wrong_password(tenant, other_tenant, make_user):
    bob = make_user(other_tenant, "bob@acme.example")
    wrong_password = sign_in(client_for(other_tenant), bob.email, "not-the-password")
    cross_tenant = sign_in(client_for(tenant), bob.email, PASSWORD)
    assert cross_tenant.status_code == wrong_password.status_code == 200
    assert "_auth_user_id" not in cross_tenant.client.session
    message = wrong_password.context["form"].non_field_errors()
    assert message and cross_tenant.context["form"].non_field_errors() == message


@pytest.mark.django_db
def test_platform_host_admits_superusers_only(tenant, user):
    User.objects.create_superuser("root@platform.example", PASSWORD)
    platform = client_for("localhost")
    assert sign_in(platform, user.email).status_code == 200  # a tenant user: refused
    assert sign_in(platform, "root@platform.example").status_code == 302
    assert sign_in(client_for(tenant), "root@platform.example").status_code == 200


@pytest.mark.django_db
def test_no_public_sign_up_and_no_cross_tenant_email_reset(tenant):
    client = client_for(tenant)
    assert client.get("/accounts/signup/").status_code == 404
    assert client.get("/accounts/email/").status_code == 404


@pytest.mark.django_db
def test_repeated_wrong_passwords_are_rate_limited(tenant, user):
    client = client_for(tenant, HTTP_ACCEPT_LANGUAGE="en")
    statuses = [sign_in(client, user.email, f"wrong-{i}").status_code for i in range(6)]
    blocked = sign_in(client, user.email, PASSWORD)
    # allauth re-shows the form with a "too many attempts" message, even for the right password.
    assert blocked.status_code == 200 and "Too many failed sign-ins" in blocked.text
    assert "_auth_user_id" not in client.session
    assert statuses == [200] * 6


@pytest.mark.django_db
def test_successful_sign_ins_never_count_as_failures(tenant, user):
    # Each attempt counts against the 5-failures limit until the password proves right; then
    # that count is taken back, so a sixth sign-in in five minutes still succeeds.
    for _ in range(6):
        assert sign_in(client_for(tenant), user.email).status_code == 302


def test_parallel_guesses_get_no_more_tries_than_guesses_one_after_another():
    # allauth's failed-sign-in limit for one account is 5 per 5 minutes. Fifty guesses sent at
    # the same instant must not slip past it: the count and the check are one step (a Lua script
    # on Redis, allauth's lock on the embedded cache). A check-then-record version with nothing
    # but its round trips in between let 7–9 through in four runs of five.
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from allauth.core import ratelimit
    from django.test import RequestFactory

    request = RequestFactory().post("/accounts/login/", REMOTE_ADDR="203.0.113.9")
    start_together = threading.Barrier(50)

    def guess(wait=True):
        if wait:
            start_together.wait()
        return bool(ratelimit.consume(request, action="login_failed", key="demo:victim@example.com"))

    with ThreadPoolExecutor(max_workers=50) as pool:
        allowed = sum(pool.map(lambda _number: guess(), range(50)))
    assert allowed == 5
    assert not guess(wait=False)


@pytest.mark.django_db
def test_policy_defaults_follow_entra(tenant):
    policy = TenantPolicy.objects.get(tenant=tenant)
    assert policy.enabled_methods == ["questions", "authenticator"]
    assert (policy.questions_to_register, policy.questions_to_answer) == (3, 3)
    assert policy.methods_required_for_reset == 1
    assert policy.nudge_enabled and policy.skip_allowed and policy.reminders_enabled
    assert policy.reconfirm_days == 180
    assert policy.mfa_required is False
    assert policy.reset_lock_threshold == 5 and policy.reset_lock_minutes == 60


@pytest.mark.django_db
def test_policy_refuses_more_questions_asked_than_registered(tenant):
    from django.core.exceptions import ValidationError

    policy = tenant.policy
    policy.questions_to_register, policy.questions_to_answer = 3, 5
    with pytest.raises(ValidationError) as error:
        policy.full_clean()
    assert "questions_to_answer" in error.value.message_dict


@pytest.mark.django_db
def test_password_is_stored_with_argon2id_at_rfc9106_memory_and_passes(user):
    # RFC 9106's second recommended memory and passes (64 MiB, t=3), one lane per check
    # (see accounts/hashers.py).
    assert user.password.startswith("argon2$argon2id$v=19$m=65536,t=3,p=1$")


@pytest.mark.django_db
def test_tenant_minimum_password_length_applies(tenant, user):
    from django.contrib.auth.password_validation import validate_password
    from django.core.exceptions import ValidationError

    tenant.policy.min_password_length = 16
    tenant.policy.save()
    user.refresh_from_db()
    with pytest.raises(ValidationError):
        validate_password("Short-but-ok-12", user)
    validate_password("Long-enough-password-1", user)


@pytest.mark.django_db
def test_pages_in_japanese_by_default_and_english_on_request(tenant):
    ja = client_for(tenant).get("/accounts/login/")
    assert "サインイン" in ja.text
    en = client_for(tenant, HTTP_ACCEPT_LANGUAGE="en").get("/accounts/login/")
    assert "Sign in" in en.text and "サインイン" not in en.text.split("<main")[1]


@pytest.mark.django_db
def test_language_switcher_sets_the_language(tenant):
    client = client_for(tenant)
    client.get("/accounts/login/")
    response = client.post("/i18n/setlang/", {"language": "en", "next": "/accounts/login/"})
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/"
    assert "Sign in" in client.get("/accounts/login/").text


@pytest.mark.django_db
def test_seed_demo_creates_two_tenants_once(capsys):
    from django.core.management import call_command

    call_command("seed_demo")
    call_command("seed_demo")
    printed = capsys.readouterr().out
    assert "http://demo.localhost:8000/" in printed and "http://acme.localhost:8000/" in printed
    assert User.objects.filter(tenant__slug="demo").count() == 4
    assert User.objects.filter(tenant__slug="acme").count() == 3
    assert sign_in(client_for("demo.localhost"), "hanako@demo.example", "Demo-pass-2026").status_code == 302


@pytest.mark.django_db
def test_the_demo_operator_enters_the_admin_with_the_printed_authenticator_key(capsys):
    import pyotp
    from django.core.management import call_command

    call_command("seed_demo")
    key = capsys.readouterr().out.split("authenticator key (enter it in an authenticator app): ")[1]
    key = key.splitlines()[0].replace(" ", "")
    operator = client_for("localhost", HTTP_ACCEPT_LANGUAGE="en")
    signed_in = sign_in(operator, "operator@platform.example", "Demo-pass-2026", next_url="/admin/")
    assert signed_in.status_code == 302 and signed_in["Location"] == "/accounts/login/code/"
    entered = operator.post("/accounts/login/code/", {"code": pyotp.TOTP(key).now()}, follow=True)
    assert entered.redirect_chain[-1][0] == "/admin/"
    assert "ID ポータル管理" in entered.text  # the operator's saved language, Japanese


def _manage(*args, **env):
    # A clean deploy environment: nothing the test runner itself set (e.g. the browser tests).
    drop = {"DJANGO_SETTINGS_MODULE", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    full_env = {k: v for k, v in os.environ.items() if k not in drop}
    full_env.pop("PYTEST_CURRENT_TEST", None)
    # Set by tests/e2e/conftest.py for Playwright; check --deploy rightly refuses it.
    full_env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    full_env.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=full_env,
        capture_output=True, text=True, timeout=120,
    )


def test_check_deploy_is_clean_in_production_mode():
    result = _manage(
        "check", "--deploy", "--fail-level", "WARNING",
        DJANGO_ENV="production", SECRET_KEY="x" * 64 + "production-secret-for-the-test",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_mode_needs_a_secret_key():
    env = {"DJANGO_ENV": "production"}
    result = _manage("check", **env, SECRET_KEY="")
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr
    assert "Traceback" not in result.stderr


def test_malformed_database_url_stops_with_one_clear_line():
    result = _manage("check", DATABASE_URL="postgres//nohost::what")
    assert result.returncode != 0
    assert "DATABASE_URL" in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_malformed_public_port_stops_with_one_clear_line():
    for value in ("eighty", "65536"):
        result = _manage("check", PORTAL_PUBLIC_PORT=value)
        assert result.returncode != 0
        assert "PORTAL_PUBLIC_PORT" in result.stderr and "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


def test_settings_follow_the_environment():
    if os.environ.get("DATABASE_URL", "").startswith("postgres"):
        assert settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
        assert settings.DATABASES["default"]["CONN_HEALTH_CHECKS"] is True
    else:
        assert settings.DATABASES["default"]["ENGINE"].endswith("sqlite3")
    if os.environ.get("REDIS_URL"):
        assert settings.CACHES["default"]["BACKEND"].endswith("RedisCache")
        assert settings.CELERY_TASK_ALWAYS_EAGER is False
    else:
        assert settings.CELERY_TASK_ALWAYS_EAGER is True
    assert settings.SESSION_ENGINE == "core.compat.django"


@pytest.mark.django_db
def test_an_audit_event_costs_one_insert_and_keeps_the_users_tenant(tenant, make_user, django_assert_num_queries):
    import audit

    user = User.objects.get(pk=make_user(tenant, "audited@demo.example").pk)  # tenant not loaded
    with django_assert_num_queries(1):
        event = audit.record("signin.succeeded", user=user)
    assert event.tenant_id == tenant.id


@pytest.mark.django_db
@pytest.mark.parametrize("trusted_proxies, recorded", [(0, "127.0.0.1"), (1, "203.0.113.7")])
def test_audit_records_the_client_address_as_the_rate_limits_see_it(
    settings, tenant, user, trusted_proxies, recorded
):
    from audit.models import AuditEvent

    settings.ALLAUTH_TRUSTED_PROXY_COUNT = trusted_proxies
    client = client_for(tenant, REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.7")
    sign_in(client, user.email, "not-the-password")
    assert AuditEvent.objects.get(kind="signin.failed").ip_address == recorded


@pytest.mark.django_db(transaction=True)
def test_a_session_ended_elsewhere_is_not_brought_back_by_a_late_save():
    """A request still running when the user's sessions are ended (reset, sign out everywhere)
    must not write its session back: the save fails, and Django answers that request with 400.
    Outside a transaction the store writes one statement per save (no BEGIN/COMMIT)."""
    from django.contrib.sessions.backends.base import UpdateError
    from django.contrib.sessions.models import Session
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from core.compat.django import SessionStore

    store = SessionStore()
    store["step"] = 1
    with CaptureQueriesContext(connection) as created:
        store.save()
    assert [q["sql"].split()[0] for q in created.captured_queries] == ["INSERT"]
    store["step"] = 2
    with CaptureQueriesContext(connection) as updated:
        store.save()
    assert [q["sql"].split()[0] for q in updated.captured_queries] == ["UPDATE"]
    assert SessionStore(store.session_key).load() == {"step": 2}

    # At sign-in the key changes (no fixation); the new row is written once, by the next save.
    old_key = store.session_key
    store.cycle_key()
    assert store.session_key != old_key and store["step"] == 2
    assert not Session.objects.filter(session_key=old_key).exists()
    assert SessionStore(old_key).load() == {}
    # Cycled again before it was written (at the password, then at Django's login): the
    # unwritten key has no row to delete, so this costs no statement.
    with CaptureQueriesContext(connection) as cycled_again:
        store.cycle_key()
    assert cycled_again.captured_queries == [] and store["step"] == 2
    with CaptureQueriesContext(connection) as cycled:
        store.save()
    assert [q["sql"].split()[0] for q in cycled.captured_queries] == ["INSERT"]
    assert SessionStore(store.session_key).load() == {"step": 2}

    Session.objects.filter(session_key=store.session_key).delete()
    store["step"] = 3
    with pytest.raises(UpdateError):
        store.save()
    assert not Session.objects.filter(session_key=store.session_key).exists()


@pytest.mark.django_db
def test_each_sign_in_is_recorded_and_ended_sessions_drop_out_of_the_record(no_nudge, user):
    """The sessions a reset or "sign out everywhere" ends are the recorded ones: each sign-in
    adds its own, with the client's address; a sign-out forgets its own at once, and the daily
    purge forgets those that ended otherwise, with Django's expired sessions."""
    from datetime import timedelta

    from allauth.usersessions.models import UserSession
    from django.contrib.sessions.models import Session
    from django.utils import timezone

    from accounts.tasks import purge_ended_sessions

    first = client_for(no_nudge, HTTP_USER_AGENT="Browser A")
    second = client_for(no_nudge, HTTP_USER_AGENT="Browser B")
    third = client_for(no_nudge, HTTP_USER_AGENT="Browser C")
    for client in (first, second, third):
        assert sign_in(client, user.email).status_code == 302
    recorded = UserSession.objects.filter(user=user)
    assert sorted(recorded.values_list("user_agent", flat=True)) == ["Browser A", "Browser B", "Browser C"]
    assert set(recorded.values_list("session_key", flat=True)) == {
        first.session.session_key, second.session.session_key, third.session.session_key}
    assert recorded.get(user_agent="Browser C").ip == "127.0.0.1"

    signed_out = first.session.session_key
    assert first.post("/accounts/logout/").status_code == 302
    assert not Session.objects.filter(session_key=signed_out).exists()
    assert sorted(recorded.values_list("user_agent", flat=True)) == ["Browser B", "Browser C"]

    expired = second.session.session_key
    Session.objects.filter(session_key=expired).update(expire_date=timezone.now() - timedelta(seconds=1))
    assert purge_ended_sessions() == 1  # the record of the expired session
    assert not Session.objects.filter(session_key=expired).exists()
    assert list(recorded.values_list("user_agent", flat=True)) == ["Browser C"]
    assert third.get("/").status_code == 200  # the live session is untouched
