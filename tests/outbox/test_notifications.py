"""E-mails through the outbox, in eager mode (no broker): what the recipient gets, and when."""

import re
from datetime import timedelta

import pytest
from django.core import mail as django_mail
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

import audit
from accounts.models import User
from accounts.notifications import invite_user, notify_password_changed
from accounts.services import provision_user
from outbox import mail
from outbox.models import OutboxEmail
from outbox.tasks import deliver_due, deliver_email
from portal.celery import app as celery_app
from recovery.models import RecoveryProfile
from recovery.notifications import remind_to_register
from recovery.tasks import nudge_never_signed_in, send_admin_digests
from tests.support.clients import client_for, sign_in
from tests.support.smtp_sink import SmtpSink, html_body, text_body

pytestmark = pytest.mark.usefixtures("eager_tasks")  # the e-mails, not the broker
LINK = re.compile(r"https?://[^\s\"<>]+")


def sent_to(address):
    return [m for m in django_mail.outbox if m.to == [address]]


@pytest.mark.django_db
def test_reminder_reaches_the_user_in_japanese_with_a_link_to_their_tenant(
    tenant, user, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        row = remind_to_register(user)
    [message] = sent_to(user.email)
    assert "本人確認方法の設定を完了してください" in message.subject
    assert "Demo Corporation" in message.from_email
    links = LINK.findall(message.body)
    assert links and all(link.startswith("http://demo.localhost/security-info/") for link in links)
    assert "山田 花子" in message.body
    html = message.alternatives[0][0]
    assert 'href="http://demo.localhost/security-info/"' in html
    row.refresh_from_db()
    assert row.state == OutboxEmail.State.SENT and row.attempts == 1 and row.sent_at


@pytest.mark.django_db
def test_reminder_in_english_for_an_english_user(tenant, make_user, django_capture_on_commit_callbacks):
    john = make_user(tenant, "john@demo.example", language="en")
    with django_capture_on_commit_callbacks(execute=True):
        remind_to_register(john)
    [message] = sent_to(john.email)
    assert message.subject == "Finish setting up your recovery methods (Demo Corporation)"
    assert "security questions or an authenticator app" in message.body


@pytest.mark.django_db
def test_at_most_one_reminder_per_interval(tenant, user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        assert remind_to_register(user) is not None
        assert remind_to_register(user) is None
    assert len(sent_to(user.email)) == 1
    # 25 hours later (default interval 24 h) the next skip reminds again.
    RecoveryProfile.objects.filter(user=user).update(
        last_reminder_at=timezone.now() - timedelta(hours=25)
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert remind_to_register(user) is not None
    assert len(sent_to(user.email)) == 2


@pytest.mark.django_db
def test_reminder_interval_follows_the_policy(make_tenant, make_user):
    tenant = make_tenant("short", reminder_interval_hours=2)
    user = make_user(tenant, "a@short.example")
    assert remind_to_register(user) is not None
    RecoveryProfile.objects.filter(user=user).update(
        last_reminder_at=timezone.now() - timedelta(hours=3)
    )
    assert remind_to_register(user) is not None


@pytest.mark.django_db
def test_no_reminder_when_switched_off_or_user_inactive(make_tenant, make_user):
    quiet = make_tenant("quiet", reminders_enabled=False)
    assert remind_to_register(make_user(quiet, "a@quiet.example")) is None
    loud = make_tenant("loud")
    assert remind_to_register(make_user(loud, "b@loud.example", is_active=False)) is None
    assert not OutboxEmail.objects.exists()


@pytest.mark.django_db
def test_nothing_is_owed_when_the_callers_transaction_rolls_back(tenant, user):
    with pytest.raises(RuntimeError), transaction.atomic():
        remind_to_register(user)
        raise RuntimeError("the skip failed")
    assert not OutboxEmail.objects.exists()
    assert RecoveryProfile.objects.filter(user=user, last_reminder_at__isnull=False).count() == 0


@pytest.mark.django_db
def test_password_changed_notice_in_the_users_language(tenant, user, make_user,
                                                       django_capture_on_commit_callbacks):
    john = make_user(tenant, "john@demo.example", language="en")
    with django_capture_on_commit_callbacks(execute=True):
        notify_password_changed(user)
        notify_password_changed(john, how="admin")
    [ja] = sent_to(user.email)
    assert "パスワードが変更されました" in ja.subject
    assert "本人確認方法を使ってリセットされました" in ja.body
    [en] = sent_to(john.email)
    assert en.subject == "Your password was changed (Demo Corporation)"
    assert "An administrator of Demo Corporation reset the password" in en.body
    assert "JST" in en.body  # the time is shown in Japan time
    assert LINK.findall(en.body) == ["http://demo.localhost/accounts/login/"]


@pytest.mark.django_db
def test_the_same_task_run_twice_sends_once(tenant, user):
    row = remind_to_register(user)  # no on_commit run: the task has not been sent yet
    assert deliver_email(row.pk) == "sent"
    assert deliver_email(row.pk) == "skipped"
    assert len(sent_to(user.email)) == 1


def invite_link(user):
    [message] = sent_to(user.email)
    [link] = set(LINK.findall(message.body))
    return message, link


@pytest.mark.django_db
def test_invitation_sets_a_first_password_once(tenant, django_capture_on_commit_callbacks):
    newcomer = provision_user(tenant=tenant, email="new@demo.example", language="en", name="New")
    with django_capture_on_commit_callbacks(execute=True):
        invite_user(newcomer)
    message, link = invite_link(newcomer)
    assert message.subject == "Set your password for Demo Corporation"
    assert link.startswith("http://demo.localhost/accounts/invite/")
    assert link in html_body_of(message)
    path = link.removeprefix("http://demo.localhost")

    client = client_for(tenant, HTTP_ACCEPT_LANGUAGE="en")
    landing = client.get(path)
    assert landing.status_code == 302 and landing["Location"].endswith("/set-password/")
    form_url = landing["Location"]
    assert "Set your password" in client.get(form_url).text

    too_short = client.post(form_url, {"new_password1": "Abc-12345", "new_password2": "Abc-12345"})
    assert too_short.status_code == 200
    assert "at least 10 characters" in too_short.text  # the tenant's minimum, not Django's 8
    mismatch = client.post(form_url, {"new_password1": "Brand-new-pass-7", "new_password2": "x"})
    assert mismatch.status_code == 200
    newcomer.refresh_from_db()
    assert not newcomer.has_usable_password()

    done = client.post(form_url, {"new_password1": "Brand-new-pass-7",
                                  "new_password2": "Brand-new-pass-7"})
    assert done.status_code == 302 and done["Location"] == "/accounts/invite/done/"
    assert "Your password is set" in client.get(done["Location"]).text
    assert sign_in(client_for(tenant), newcomer.email, "Brand-new-pass-7").status_code == 302
    assert audit.KINDS["password.changed"]
    assert newcomer.audit_events.filter(kind="password.changed", data__how="invite").exists()

    # One-time: the same link no longer works, in a fresh browser or the same one.
    for browser in (client, client_for(tenant, HTTP_ACCEPT_LANGUAGE="en")):
        again = browser.get(path)
        assert again.status_code == 200
        assert "This invitation link does not work" in again.text
        assert "<form method=\"post\" class=\"form\"" not in again.text


def html_body_of(message):
    return message.alternatives[0][0]


@pytest.mark.django_db
def test_invitation_link_is_refused_on_another_tenants_host(tenant, other_tenant,
                                                            django_capture_on_commit_callbacks):
    newcomer = provision_user(tenant=tenant, email="new@demo.example")
    with django_capture_on_commit_callbacks(execute=True):
        invite_user(newcomer)
    _message, link = invite_link(newcomer)
    path = link.removeprefix("http://demo.localhost")
    elsewhere = client_for(other_tenant).get(path, follow=True)
    assert elsewhere.status_code == 200
    assert "この招待リンクは使用できません" in elsewhere.text
    assert "new_password1" not in elsewhere.text
    assert client_for("localhost").get(path).status_code == 200  # platform host: invalid too
    tampered = path.replace(path.rstrip("/").rsplit("/", 1)[1], "abc-def")
    assert "new_password1" not in client_for(tenant).get(tampered, follow=True).text


@pytest.mark.django_db
def test_invitation_is_not_sent_once_a_password_is_set(tenant):
    newcomer = provision_user(tenant=tenant, email="new@demo.example")
    row = invite_user(newcomer)
    newcomer.set_password("Set-by-admin-42")
    newcomer.save()
    assert deliver_email(row.pk) == "cancelled"
    assert not sent_to(newcomer.email)


@pytest.mark.django_db
def test_weekly_digest_tells_each_admin_their_tenants_numbers_once(
    tenant, other_tenant, make_user, django_capture_on_commit_callbacks
):
    admin = make_user(tenant, "admin@demo.example", is_staff=True, language="en")
    registered = make_user(tenant, "reg@demo.example")
    TOTPDevice.objects.create(user=registered, name="app", confirmed=True)
    skipper = make_user(tenant, "skip@demo.example")
    RecoveryProfile.objects.create(user=skipper, skip_count=2)
    make_user(tenant, "none@demo.example")
    audit.record("reset.completed", user=registered)
    audit.record("reset.locked", user=skipper)
    audit.record("nudge.skipped", user=skipper)
    make_user(other_tenant, "admin@acme.example", is_staff=True)
    make_user(other_tenant, "x@acme.example")
    with django_capture_on_commit_callbacks(execute=True):
        assert send_admin_digests() == 2
    [message] = sent_to(admin.email)
    assert message.subject == "Weekly registration summary for Demo Corporation"
    body = message.body
    for line in ("Active users: 4", "Registered: 1", "Needs re-confirm: 0", "Skipped: 1",
                 "Not registered: 2", "Registration skipped: 1", "Password resets: 1",
                 "Reset lockouts: 1"):
        assert line in body, line
    assert "http://demo.localhost/admin/" in body
    [acme] = sent_to("admin@acme.example")
    assert "有効なユーザー数: 2" in acme.body
    with django_capture_on_commit_callbacks(execute=True):
        assert send_admin_digests() == 0  # beat fired twice this week
    assert len(django_mail.outbox) == 2


@pytest.mark.django_db
def test_never_signed_in_nudge_is_off_by_default_and_works_when_on(
    tenant, make_user, settings, django_capture_on_commit_callbacks
):
    sleeper = make_user(tenant, "sleeper@demo.example")
    invitee = provision_user(tenant=tenant, email="invitee@demo.example")
    make_user(tenant, "active@demo.example")
    User.objects.filter(email="active@demo.example").update(last_login=timezone.now())
    make_user(tenant, "newcomer@demo.example")  # joined today: not nudged yet
    User.objects.exclude(email="newcomer@demo.example").update(
        date_joined=timezone.now() - timedelta(days=30)
    )
    assert nudge_never_signed_in() == 0
    settings.NEVER_SIGNED_IN_NUDGE_DAYS = 7
    with django_capture_on_commit_callbacks(execute=True):
        assert nudge_never_signed_in() == 2
        assert nudge_never_signed_in() == 0  # once per period
    [nudge] = sent_to(sleeper.email)
    assert "まだサインインしていません" in nudge.body
    [invitation] = sent_to(invitee.email)
    assert "/accounts/invite/" in invitation.body


@pytest.mark.django_db(transaction=True)
def test_smtp_refusal_is_retried_with_backoff_then_failed_and_never_duplicated(
    tenant, user, settings
):
    settings.OUTBOX_MAX_ATTEMPTS = 3
    settings.OUTBOX_RETRY_BASE_SECONDS = 60
    with SmtpSink() as sink:
        for key, value in sink.settings().items():
            setattr(settings, key, value)
        sink.handler.refusal = "451 4.3.0 Mailbox busy, try later"
        row = notify_password_changed(user)  # autocommit: on_commit runs the eager task now
        row.refresh_from_db()
        assert (row.state, row.attempts) == (OutboxEmail.State.PENDING, 1)
        assert "451" in row.last_error
        first_wait = row.next_attempt_at - timezone.now()
        assert timedelta(seconds=55) < first_wait <= timedelta(seconds=60)
        assert deliver_email(row.pk) == "skipped"  # not due yet

        waits = []
        for _ in range(2):
            before = timezone.now()
            OutboxEmail.objects.filter(pk=row.pk).update(next_attempt_at=before)
            deliver_email(row.pk)
            row.refresh_from_db()
            waits.append(row.next_attempt_at - before)
        assert row.state == OutboxEmail.State.FAILED and row.attempts == 3
        assert timedelta(seconds=115) < waits[0] <= timedelta(seconds=121)  # doubled
        assert sink.handler.refused == 3 and not sink.messages

        sink.handler.refusal = None  # SMTP is back: the failed row stays failed
        assert mail.sweep(overdue_seconds=0) == 0
        assert deliver_email(row.pk) == "skipped"
        retried = notify_password_changed(user)
        retried.refresh_from_db()
        assert retried.state == OutboxEmail.State.SENT
        [(recipients, message)] = sink.messages
        assert recipients == [user.email]
        assert "Demo Corporation" in str(message["From"])
        assert "パスワードが変更されました" in message["Subject"]
        assert "http://demo.localhost/accounts/login/" in text_body(message)
        assert "http://demo.localhost/accounts/login/" in html_body(message)


@pytest.mark.django_db
def test_a_burst_of_emails_shares_the_delivery_task_already_queued(tenant, make_user):
    users = [make_user(tenant, f"b{i}@demo.example") for i in range(3)]
    cache.set(mail.KICK_KEY, 1)  # a delivery task is queued and has not started yet
    for user in users:
        notify_password_changed(user)  # autocommit: after commit, no task of its own
    assert not django_mail.outbox
    assert deliver_due() == 3  # the queued task, when it runs, takes every committed row
    assert sorted(m.to[0] for m in django_mail.outbox) == sorted(u.email for u in users)
    assert deliver_due() == 0


@pytest.mark.django_db
def test_tenant_and_platform_links_follow_the_one_site_url_setting(
    tenant, user, settings, django_capture_on_commit_callbacks
):
    settings.PORTAL_PUBLIC_PORT = "8443"
    operator = User.objects.create_superuser("root@platform.example", "Platform-pass-1234")
    with django_capture_on_commit_callbacks(execute=True):
        remind_to_register(user)
        notify_password_changed(operator)
    [reminder] = sent_to(user.email)
    [notice] = sent_to(operator.email)
    assert LINK.findall(reminder.body)[0].startswith("http://demo.localhost:8443/security-info/")
    assert LINK.findall(notice.body)[0].startswith(f"http://{settings.PLATFORM_HOSTS[0]}:8443/")


def test_every_periodic_task_is_one_a_worker_runs(settings):
    """Beat publishes names; a worker that finds no task by that name drops the message."""
    celery_app.loader.import_default_modules()
    for entry, schedule in settings.CELERY_BEAT_SCHEDULE.items():
        assert schedule["task"] in celery_app.tasks, entry
