"""The registration and reset report: its numbers are the data's, for the admin's tenant only.

The reset numbers come from resets walked through the real wizard (tests/support/reset.py), so
the report reads the audit events the reset really writes.
"""

import csv
import io
import re
from datetime import timedelta

import pytest
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.models import AuditEvent
from recovery.models import (
    RecoveryProfile,
    ResetThrottle,
    SecurityQuestion,
    SecurityQuestionsDevice,
)
from tests.support.admin import table_numbers, verified_client
from tests.support.clients import client_for
from tests.support.reset import (
    VERIFY,
    Page,
    answer,
    begin,
    register_app,
    register_questions,
    set_password,
)

pytestmark = pytest.mark.usefixtures("fast_hashing")
REPORT = "/admin/report/"


@pytest.fixture
def report_data(tenant, other_tenant, make_user, org_admin):  # noqa: F811
    """Registration states (devices made directly: only their presence matters here)."""
    # org_admin has an authenticator (from admin_client): registered.
    for n in range(2):
        TOTPDevice.objects.create(user=make_user(tenant, f"app{n}@demo.example", password=None), name="a", confirmed=True)
    SecurityQuestionsDevice.objects.create(user=make_user(tenant, "q@demo.example", password=None), name="q", confirmed=True)
    for n in range(3):
        RecoveryProfile.objects.create(user=make_user(tenant, f"skip{n}@demo.example", password=None), skip_count=n + 1)
    for n in range(4):
        make_user(tenant, f"none{n}@demo.example", password=None)
    stale = make_user(tenant, "stale@demo.example", password=None)  # past the 180-day re-confirm
    TOTPDevice.objects.create(user=stale, name="a", confirmed=True)
    RecoveryProfile.objects.create(user=stale, methods_confirmed_at=timezone.now() - timedelta(days=181))
    make_user(tenant, "gone@demo.example", is_active=False)  # not counted
    # Both methods required: one method is not enough.
    strict = make_user(other_tenant, "strict@acme.example")
    TOTPDevice.objects.create(user=strict, name="a", confirmed=True)


def bank_questions():
    return list(SecurityQuestion.objects.filter(tenant=None).order_by("position")[:3])


def reset_with_questions(tenant, user, address, wrong_tries=0):
    """The wizard with security questions: `wrong_tries` wrong answers first, then the right ones."""
    answers = register_questions(user, bank_questions())
    client = client_for(tenant, REMOTE_ADDR=address)
    page = Page(begin(client, user.email, ("questions",)))
    for _ in range(wrong_tries):
        assert answer(client, page, answers, lambda a: "not " + a).status_code == 200
        SecurityQuestionsDevice.objects.filter(user=user).update(throttling_failure_timestamp=None)
        ResetThrottle.objects.update(last_failure_at=None)  # the name's counter mirrors the wait
    assert answer(client, page, answers)["Location"] == VERIFY
    return client


@pytest.fixture
def real_resets(tenant, other_tenant, make_user):
    """Resets walked through the wizard, with the events recovery.reset really writes."""
    tenant.policy.reset_lock_threshold = 2
    tenant.policy.save()
    # Questions: one wrong try, then done.
    client = reset_with_questions(tenant, make_user(tenant, "q.reset@demo.example"), "10.0.0.1", 1)
    assert set_password(client).status_code == 302
    # The app: one wrong code, then done.
    app_user = make_user(tenant, "app.reset@demo.example")
    totp = register_app(app_user)
    client = client_for(tenant, REMOTE_ADDR="10.0.0.2")
    begin(client, app_user.email, ("authenticator",))
    wrong = f"{(int(totp.now()) + 500_000) % 1_000_000:06d}"
    assert client.post(VERIFY, {"code": wrong}).status_code == 200
    TOTPDevice.objects.filter(user=app_user).update(throttling_failure_timestamp=None)
    ResetThrottle.objects.update(last_failure_at=None)  # the name's counter mirrors the wait
    assert client.post(VERIFY, {"code": totp.now()})["Location"] == VERIFY
    assert set_password(client).status_code == 302
    # Staff: the questions, then the app as well (staff never reset with questions alone).
    staff = make_user(tenant, "staff.reset@demo.example", is_staff=True)
    staff_totp = register_app(staff)
    client = reset_with_questions(tenant, staff, "10.0.0.3")
    assert client.post(VERIFY, {"code": staff_totp.now()})["Location"] == VERIFY
    assert set_password(client).status_code == 302
    # Two wrong tries lock the account (threshold 2).
    locked = make_user(tenant, "locked@demo.example")
    answers = register_questions(locked, bank_questions())
    client = client_for(tenant, REMOTE_ADDR="10.0.0.4")
    page = Page(begin(client, locked.email, ("questions",)))
    assert answer(client, page, answers, lambda a: "not " + a).status_code == 200
    SecurityQuestionsDevice.objects.filter(user=locked).update(throttling_failure_timestamp=None)
    ResetThrottle.objects.update(last_failure_at=None)  # the name's counter mirrors the wait
    assert answer(client, page, answers, lambda a: "not " + a).status_code == 429
    # A reset 31 days ago is out of the report's 30 days.
    old = make_user(tenant, "old.reset@demo.example")
    assert set_password(reset_with_questions(tenant, old, "10.0.0.5")).status_code == 302
    AuditEvent.objects.filter(user=old).update(created_at=timezone.now() - timedelta(days=31))
    # Another tenant's reset: never in this tenant's report.
    bob = make_user(other_tenant, "bob@acme.example")
    assert set_password(reset_with_questions(other_tenant, bob, "10.0.0.6")).status_code == 302


@pytest.mark.django_db
def test_report_numbers_match_the_data(admin_client, report_data):  # noqa: F811
    page = admin_client.get(REPORT)
    assert page.status_code == 200
    # registered: org admin + 2 app + 1 questions; re-confirm: 1; skipped: 3; none: 4.
    assert table_numbers(page, "coverage-table", "data-state") == {
        "registered": [4], "reconfirm": [1], "skipped": [3], "none": [4],
    }
    assert "<svg" in page.text and "<script" not in page.text.split("<svg", 1)[1].split("</svg>")[0]
    assert "acme" not in page.text.lower()

    export = admin_client.get(REPORT + "?format=csv")
    assert export["Content-Type"].startswith("text/csv")
    lines = list(csv.reader(io.StringIO(export.content.decode("utf-8-sig"))))
    for row in (["registered", "4"], ["reconfirm", "1"], ["skipped", "3"], ["none", "4"]):
        assert row in lines


@pytest.mark.django_db
def test_resets_are_counted_by_method_and_outcome_from_the_real_wizard(admin_client, real_resets):  # noqa: F811
    page = admin_client.get(REPORT + "?refresh=1")
    # Columns: completed, verification failed, total.
    assert table_numbers(page, "reset-table", "data-method") == {
        "questions": [1, 3, 4],  # q.reset (1 wrong try), locked (2 wrong tries)
        "authenticator": [1, 1, 2],
        "questions+authenticator": [1, 0, 1],  # the staff member verified both
    }
    assert table_numbers(page, "lock-table", "data-scope") == {"account": [1], "address": [0]}
    assert "acme" not in page.text.lower()

    lines = list(csv.reader(io.StringIO(admin_client.get(REPORT + "?format=csv").content.decode("utf-8-sig"))))
    for row in (["questions", "1", "3", "4"], ["authenticator", "1", "1", "2"],
                ["questions+authenticator", "1", "0", "1"], ["account", "1"], ["address", "0"]):
        assert row in lines
    assert not any(line and line[0] == "other" for line in lines)


@pytest.mark.django_db
def test_registration_counts_follow_the_policy(other_tenant, report_data):
    from recovery.reports import registration_coverage

    assert registration_coverage(other_tenant) == {"registered": 1, "reconfirm": 0, "skipped": 0, "none": 0}
    policy = other_tenant.policy
    policy.methods_required_for_reset = 2
    policy.save()
    assert registration_coverage(other_tenant) == {"registered": 0, "reconfirm": 0, "skipped": 0, "none": 1}
    # A method the tenant no longer enables does not count: the reset would not offer it.
    policy.methods_required_for_reset = 1
    policy.authenticator_enabled = False
    policy.save()
    assert registration_coverage(other_tenant) == {"registered": 0, "reconfirm": 0, "skipped": 0, "none": 1}


@pytest.mark.django_db
def test_superuser_picks_the_tenant_of_the_report(real_resets, other_tenant):
    from accounts.models import User
    from tests.support.clients import PASSWORD

    root = User.objects.create_superuser("root@platform.example", PASSWORD)
    client = verified_client(root, "localhost")
    acme = client.get(REPORT + f"?tenant={other_tenant.pk}")
    assert table_numbers(acme, "reset-table", "data-method") == {"questions": [1, 0, 1], "authenticator": [0, 0, 0]}
    everyone = client.get(REPORT)
    assert table_numbers(everyone, "reset-table", "data-method")["questions"] == [2, 3, 5]


@pytest.mark.django_db
def test_report_is_kept_a_minute_and_refresh_recomputes(admin_client, report_data, tenant, make_user):  # noqa: F811
    first = admin_client.get(REPORT)
    make_user(tenant, "newcomer@demo.example", password=None)
    # Within the minute the admin sees the same figures (the aggregate is not redone)...
    assert table_numbers(admin_client.get(REPORT), "coverage-table", "data-state")["none"] == [4]
    assert "Refresh now" in first.text or "今すぐ" in first.text
    # ...and "Refresh now" recounts.
    fresh = admin_client.get(REPORT + "?refresh=1")
    assert table_numbers(fresh, "coverage-table", "data-state")["none"] == [5]
    assert table_numbers(admin_client.get(REPORT), "coverage-table", "data-state")["none"] == [5]


@pytest.mark.django_db
def test_registration_over_the_last_twelve_weeks_by_when_users_became_registered(
        admin_client, tenant, other_tenant, make_user, org_admin):  # noqa: F811
    now = timezone.now()

    def added(user, device_model, weeks_ago):
        device = device_model.objects.create(user=user, name="m", confirmed=True)
        device_model.objects.filter(pk=device.pk).update(created_at=now - timedelta(weeks=weeks_ago))

    # org_admin's authenticator (admin_client) was added now: registered this week.
    added(make_user(tenant, "w3@demo.example", password=None), TOTPDevice, 3)
    added(make_user(tenant, "w3b@demo.example", password=None), SecurityQuestionsDevice, 3)
    added(make_user(tenant, "w1@demo.example", password=None), TOTPDevice, 1)
    added(make_user(tenant, "old@demo.example", password=None), TOTPDevice, 20)  # before the chart
    make_user(tenant, "never@demo.example", password=None)
    # Another tenant's users are not counted at demo.
    added(make_user(other_tenant, "acme@acme.example", password=None), TOTPDevice, 1)

    page = admin_client.get(REPORT + "?refresh=1")
    weeks = table_numbers(page, "weeks-table", "data-week")
    assert len(weeks) == 12
    columns = list(weeks.values())  # [new, total] per week, oldest first
    assert columns[-1] == [1, 5]  # this week: the org admin; 5 registered by its end
    assert columns[-2] == [1, 4]
    assert columns[-4] == [2, 3]
    assert columns[0] == [0, 1]  # only the user from 20 weeks ago
    assert sum(new for new, _total in columns) == 4
    assert page.text.count('<svg xmlns="http://www.w3.org/2000/svg" role="img"') == 3

    lines = list(csv.reader(io.StringIO(admin_client.get(REPORT + "?format=csv").content.decode("utf-8-sig"))))
    week_rows = [line for line in lines if line and re.fullmatch(r"\d{4}-\d{2}-\d{2}", line[0])]
    assert [row[1:] for row in week_rows] == [[str(n) for n in column] for column in columns]


@pytest.mark.django_db
def test_a_two_method_policy_counts_a_user_from_when_the_second_method_was_added(other_tenant,
                                                                                 make_user):
    from recovery.reports import registration_weeks

    other_tenant.policy.methods_required_for_reset = 2
    other_tenant.policy.save()
    user = make_user(other_tenant, "both@acme.example", password=None)
    now = timezone.now()
    for model, weeks_ago in ((SecurityQuestionsDevice, 6), (TOTPDevice, 2)):
        device = model.objects.create(user=user, name="m", confirmed=True)
        model.objects.filter(pk=device.pk).update(created_at=now - timedelta(weeks=weeks_ago))
    series = registration_weeks(other_tenant, now=now)
    assert [week["new"] for week in series][-3] == 1
    assert sum(week["new"] for week in series) == 1
    assert series[-7]["total"] == 0
