"""Flow A: "アカウントのセキュリティ保護" after sign-in, until the user has registered enough."""

from datetime import timedelta

import pytest
from django.test import RequestFactory
from django.utils import timezone

from audit.models import AuditEvent
from recovery import policy, status
from recovery.models import RecoveryProfile, SecurityQuestionsDevice
from tests.support.clients import client_for, sign_in
from tests.support.nudge import NUDGE, register_questions


def add_registered_users(tenant, make_user, count):
    """Other employees with methods (no answers hashed: only the count of rows matters here)."""
    for n in range(count):
        other = make_user(tenant, f"filler{n}@{tenant.slug}.example", password=None)
        SecurityQuestionsDevice.objects.create(user=other, name="q", confirmed=True)


def signed_in(client):
    return "_auth_user_id" in client.session


def sign_out(client):
    client.post("/accounts/logout/")
    assert not signed_in(client)


@pytest.mark.django_db
def test_nudge_comes_back_at_every_sign_in_until_a_method_is_registered(tenant, user):
    client = client_for(tenant)
    response = sign_in(client, user.email)
    assert response.status_code == 302 and response["Location"] == NUDGE
    assert not signed_in(client)  # the user is not in until the nudge lets them go

    page = client.get(NUDGE)
    assert page.status_code == 200
    for wording in ("アカウントのセキュリティ保護", "別の方法を設定します", "セットアップをスキップします"):
        assert wording in page.text
    assert page.text.count("<h1") == 1
    assert client.get("/").status_code == 302  # nothing else of the portal meanwhile

    skipped = client.post(NUDGE + "skip/")
    assert skipped.status_code == 302 and skipped["Location"] == "/"
    assert signed_in(client)
    assert client.get("/").status_code == 200

    sign_out(client)
    assert sign_in(client, user.email)["Location"] == NUDGE  # again, at the next sign-in
    assert "セットアップをスキップします" in client.get(NUDGE).text
    client.post(NUDGE + "skip/")
    profile = RecoveryProfile.objects.get(user=user)
    assert profile.skip_count == 2 and profile.last_skipped_at is not None
    kinds = list(AuditEvent.objects.filter(user=user).values_list("kind", flat=True))
    assert kinds.count("nudge.skipped") == 2
    assert kinds.count("nudge.shown") == 2

    register_questions(user)
    sign_out(client)
    response = sign_in(client, user.email)
    assert response["Location"] == "/" and signed_in(client)  # registered: no more nudge


@pytest.mark.django_db
def test_nudge_is_recorded_once_per_sign_in_not_per_page_view(tenant, user):
    client = client_for(tenant)
    sign_in(client, user.email)
    for _ in range(3):
        client.get(NUDGE)
    assert AuditEvent.objects.filter(user=user, kind="nudge.shown").count() == 1
    assert RecoveryProfile.objects.get(user=user).last_nudged_at is not None


@pytest.mark.django_db
def test_without_skip_there_is_no_way_past_the_nudge_but_registering(make_tenant, make_user):
    strict = make_tenant("strict", skip_allowed=False)
    user = make_user(strict, "taro@strict.example")
    client = client_for(strict)
    assert sign_in(client, user.email)["Location"] == NUDGE
    page = client.get(NUDGE)
    assert "セットアップをスキップします" not in page.text
    assert "別の方法を設定します" in page.text

    refused = client.post(NUDGE + "skip/", follow=True)
    assert "スキップできません" in refused.text
    assert not signed_in(client)
    assert RecoveryProfile.objects.filter(user=user, skip_count__gt=0).count() == 0
    for path in ("/", "/security-info/", "/accounts/password/change/"):
        assert client.get(path)["Location"].startswith("/accounts/login/")
    assert not signed_in(client)


@pytest.mark.django_db
def test_skip_keeps_the_next_destination(tenant, user):
    client = client_for(tenant)
    assert sign_in(client, user.email, next_url="/security-info/")["Location"] == NUDGE
    assert client.post(NUDGE + "skip/")["Location"] == "/security-info/"


@pytest.mark.django_db
@pytest.mark.parametrize("evil", ["https://evil.example/", "//evil.example/", "https:/evil.example"])
def test_open_redirects_are_not_followed_after_the_nudge(tenant, user, evil):
    client = client_for(tenant)
    sign_in(client, user.email, next_url=evil)
    response = client.post(NUDGE + "skip/?next=" + evil)
    assert response.status_code == 302
    assert response["Location"] == "/"


@pytest.mark.django_db
def test_no_nudge_when_the_policy_does_not_ask(make_tenant, make_user):
    relaxed = make_tenant("relaxed", nudge_enabled=False)
    user = make_user(relaxed, "jiro@relaxed.example")
    client = client_for(relaxed)
    assert sign_in(client, user.email)["Location"] == "/"
    assert signed_in(client)


@pytest.mark.django_db
def test_two_methods_required_keeps_asking_until_both(make_tenant, make_user):
    both = make_tenant("both", methods_required_for_reset=2)
    user = make_user(both, "saburo@both.example")
    register_questions(user)
    assert policy.nudge_reason(user, both) == policy.REGISTER
    client = client_for(both)
    assert sign_in(client, user.email)["Location"] == NUDGE


@pytest.mark.django_db
def test_reconfirm_after_the_interval_is_one_click(tenant, user):
    register_questions(user)
    RecoveryProfile.objects.filter(user=user).update(
        methods_confirmed_at=timezone.now() - timedelta(days=181)
    )
    client = client_for(tenant)
    assert sign_in(client, user.email, next_url="/security-info/")["Location"] == NUDGE
    page = client.get(NUDGE)
    assert "最新の状態です" in page.text
    assert 'href="/security-info/questions/"' in page.text  # change link
    response = client.post(NUDGE + "still-current/")
    assert response["Location"] == "/security-info/" and signed_in(client)
    profile = RecoveryProfile.objects.get(user=user)
    assert profile.methods_confirmed_at > timezone.now() - timedelta(minutes=1)
    assert AuditEvent.objects.filter(user=user, kind="methods.reconfirmed").exists()
    sign_out(client)
    assert sign_in(client, user.email)["Location"] == "/"


@pytest.mark.django_db
def test_mfa_required_forces_the_authenticator_without_skip(make_tenant, make_user):
    mfa = make_tenant("mfa", mfa_required=True)
    user = make_user(mfa, "shiro@mfa.example")
    register_questions(user)  # questions do not count for the sign-in code
    client = client_for(mfa)
    assert sign_in(client, user.email)["Location"] == NUDGE
    page = client.get(NUDGE)
    assert "認証アプリ" in page.text
    assert "セットアップをスキップします" not in page.text
    assert "別の方法を設定します" not in page.text
    assert client.get("/security-info/questions/")["Location"] == NUDGE
    client.post(NUDGE + "skip/")
    assert not signed_in(client)


@pytest.mark.django_db
def test_nudge_speaks_english_too(tenant, user):
    client = client_for(tenant, HTTP_ACCEPT_LANGUAGE="en")
    sign_in(client, user.email)
    page = client.get(NUDGE)
    for wording in ("Keep your account secure", "Set up a different method", "Skip setup"):
        assert wording in page.text
    assert '<html lang="en">' in page.text


# --- Query budget ------------------------------------------------------------------------------

def _stage_for(user, tenant):
    from allauth.account.internal.stagekit import LoginStageController
    from allauth.account.models import Login

    from recovery.stages import NudgeStage

    request = RequestFactory().get("/", HTTP_HOST=f"{tenant.slug}.localhost")
    request.tenant = tenant
    request.session = {}
    controller = LoginStageController(request, Login(user=user))
    return NudgeStage(controller, request, controller.login)


@pytest.mark.django_db
def test_the_sign_in_check_costs_one_query_whatever_the_number_of_users(tenant, user, make_user):
    """One SELECT decides; a nudge then records itself (profile upsert, audit event), once."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tenants.resolution import resolve_host

    def statements_of_the_check(stage_user):
        with CaptureQueriesContext(connection) as captured:
            response, cont = _stage_for(stage_user, tenant).handle()
        assert cont
        verbs = [q["sql"].split()[0] for q in captured.captured_queries]
        return response, [v for v in verbs if v in ("SELECT", "INSERT", "UPDATE", "DELETE")]

    tenant = resolve_host("demo.localhost")  # as the middleware hands it over: policy included
    registered = make_user(tenant, "done@demo.example")
    register_questions(registered)
    for more_users in (0, 30):
        add_registered_users(tenant, make_user, more_users)
        response, verbs = statements_of_the_check(user)
        assert response is not None and verbs == ["SELECT", "INSERT", "INSERT"]
        response, verbs = statements_of_the_check(registered)
        assert response is None and verbs == ["SELECT"]


@pytest.mark.django_db
def test_sign_in_query_count_does_not_grow_with_users(tenant, make_user):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def first_sign_in_queries(email):
        user = make_user(tenant, email)
        register_questions(user)
        client = client_for(tenant)
        client.get("/accounts/login/")
        with CaptureQueriesContext(connection) as captured:
            assert sign_in(client, email)["Location"] == "/"
        control = ("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE", "ROLLBACK")
        return [q["sql"] for q in captured.captured_queries if not q["sql"].startswith(control)]

    first_sign_in_queries("warm-up@demo.example")  # first-use look-ups of the process
    before = first_sign_in_queries("before@demo.example")
    add_registered_users(tenant, make_user, 30)
    assert len(first_sign_in_queries("after@demo.example")) == len(before)
    # Look-up, nudge decision, last login, audit, the session record, the session (one INSERT
    # at the end): a sign-in is 6 statements (bench/README.md).
    assert len(before) <= 6, "\n".join(before)


@pytest.mark.django_db
def test_nudge_offers_only_the_methods_the_tenant_enables(make_tenant, make_user):
    default = make_tenant("default")
    questions_only = make_tenant("qonly", authenticator_enabled=False)
    for tenant, first, offered in (
        (default, "/security-info/authenticator/", {"questions", "authenticator"}),
        (questions_only, "/security-info/questions/", {"questions"}),
    ):
        user = make_user(tenant, f"emp@{tenant.slug}.example")
        client = client_for(tenant)
        sign_in(client, user.email)
        page = client.get(NUDGE)
        assert f'action="{first}"' in page.text or f'href="{first}"' in page.text
        assert ("別の方法を設定します" in page.text) == (len(offered) > 1)
        picker = client.get("/security-info/methods/")
        assert ('value="authenticator"' in picker.text) == ("authenticator" in offered)
        refused = client.post("/security-info/methods/", {"method": "sms"})
        assert "一覧にある方法から選択してください" in refused.text
        if "authenticator" not in offered:
            assert client.post("/security-info/authenticator/")["Location"] == NUDGE
            assert not status.registered_methods(user)


@pytest.mark.django_db
def test_skipping_through_the_pages_queues_one_reminder_a_day_in_the_users_language(
    tenant, user, make_user
):
    from outbox import kinds
    from outbox.models import OutboxEmail

    john = make_user(tenant, "john@demo.example", language="en", name="John")

    def skip(person):
        client = client_for(tenant)
        assert sign_in(client, person.email)["Location"] == NUDGE
        skipped = client.post(NUDGE + "skip/")
        assert skipped.status_code == 302 and signed_in(client)

    def reminders(person):
        return list(OutboxEmail.objects.filter(to_email=person.email).values_list(
            "kind", "user_id", "language", "state"))

    for person in (user, john):
        skip(person)
    assert reminders(user) == [(kinds.REMINDER, user.pk, "ja", "pending")]
    assert reminders(john) == [(kinds.REMINDER, john.pk, "en", "pending")]

    for person in (user, john):  # skipped again within 24 hours: no second e-mail
        skip(person)
    assert len(reminders(user)) == len(reminders(john)) == 1
    assert RecoveryProfile.objects.get(user=user).skip_count == 2

    # A day later the next skip reminds again.
    RecoveryProfile.objects.filter(user=user).update(
        last_reminder_at=timezone.now() - timedelta(hours=24, minutes=1))
    skip(user)
    assert len(reminders(user)) == 2 and len(reminders(john)) == 1
    assert OutboxEmail.objects.count() == 3
