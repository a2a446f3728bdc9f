"""The registration and reset report: its numbers are the data's, for the admin's tenant only."""

import csv
import io
import re
from datetime import timedelta

import pytest
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import audit
from accounts.models import AuditEvent
from recovery.models import RecoveryProfile, SecurityQuestionsDevice

from .test_admin import admin_client, org_admin, verified_client  # noqa: F401

REPORT = "/admin/report/"


@pytest.fixture
def report_data(tenant, other_tenant, make_user, org_admin):  # noqa: F811
    # org_admin has an authenticator (from admin_client): registered.
    for n in range(2):
        TOTPDevice.objects.create(user=make_user(tenant, f"app{n}@demo.example", password=None), name="a", confirmed=True)
    SecurityQuestionsDevice.objects.create(user=make_user(tenant, "q@demo.example", password=None), name="q", confirmed=True)
    for n in range(3):
        RecoveryProfile.objects.create(user=make_user(tenant, f"skip{n}@demo.example", password=None), skip_count=n + 1)
    for n in range(4):
        make_user(tenant, f"none{n}@demo.example", password=None)
    make_user(tenant, "gone@demo.example", is_active=False)  # not counted
    # Both methods required: one method is not enough.
    strict = make_user(other_tenant, "strict@acme.example")
    TOTPDevice.objects.create(user=strict, name="a", confirmed=True)

    someone = make_user(tenant, "resetter@demo.example")
    events = [
        ("reset.completed", "questions", 2), ("reset.completed", "authenticator", 1),
        ("reset.verify_failed", "questions", 3), ("reset.locked", "questions", 1),
        ("reset.verify_failed", "authenticator", 2),
    ]
    for kind, method, count in events:
        for _ in range(count):
            audit.record(kind, user=someone, method=method)
    old = audit.record("reset.completed", user=someone, method="questions")
    AuditEvent.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=31))
    bob = make_user(other_tenant, "bob@acme.example")
    for _ in range(7):
        audit.record("reset.completed", user=bob, method="questions")


def table_numbers(page, table_id, attr):
    table = re.search(rf'<table id="{table_id}">.*?</table>', page.text, re.S).group(0)
    rows = re.findall(rf'<tr {attr}="([^"]+)">(.*?)</tr>', table, re.S)
    return {key: [int(n) for n in re.findall(r'<td class="count">(\d+)</td>', cells)] for key, cells in rows}


@pytest.mark.django_db
def test_report_numbers_match_the_data(admin_client, report_data):  # noqa: F811
    page = admin_client.get(REPORT)
    assert page.status_code == 200
    # registered: org admin + 2 app + 1 questions; skipped: 3; none: 4 + resetter.
    assert table_numbers(page, "coverage-table", "data-state") == {
        "registered": [4], "skipped": [3], "none": [5],
    }
    assert table_numbers(page, "reset-table", "data-method") == {
        "questions": [2, 3, 1, 6], "authenticator": [1, 2, 0, 3],
    }
    assert "<svg" in page.text and "<script" not in page.text.split("<svg", 1)[1].split("</svg>")[0]
    assert "acme" not in page.text.lower()

    export = admin_client.get(REPORT + "?format=csv")
    assert export["Content-Type"].startswith("text/csv")
    lines = list(csv.reader(io.StringIO(export.content.decode("utf-8-sig"))))
    assert ["registered", "4"] in lines and ["skipped", "3"] in lines and ["none", "5"] in lines
    assert ["questions", "2", "3", "1", "6"] in lines
    assert ["authenticator", "1", "2", "0", "3"] in lines


@pytest.mark.django_db
def test_registration_counts_follow_the_policy(other_tenant, report_data):
    from recovery.reports import registration_coverage

    assert registration_coverage(other_tenant) == {"registered": 1, "skipped": 0, "none": 1}
    policy = other_tenant.policy
    policy.methods_required_for_reset = 2
    policy.save()
    assert registration_coverage(other_tenant) == {"registered": 0, "skipped": 0, "none": 2}


@pytest.mark.django_db
def test_superuser_picks_the_tenant_of_the_report(report_data, other_tenant):
    from accounts.models import User

    from .conftest import PASSWORD

    root = User.objects.create_superuser("root@platform.example", PASSWORD)
    client = verified_client(root, "localhost")
    acme = client.get(REPORT + f"?tenant={other_tenant.pk}")
    assert table_numbers(acme, "reset-table", "data-method")["questions"] == [7, 0, 0, 7]
    everyone = client.get(REPORT)
    assert table_numbers(everyone, "reset-table", "data-method")["questions"] == [9, 3, 1, 13]


@pytest.mark.django_db
def test_report_is_kept_a_minute_and_refresh_recomputes(admin_client, report_data, tenant, make_user):  # noqa: F811
    first = admin_client.get(REPORT)
    make_user(tenant, "newcomer@demo.example", password=None)
    # Within the minute the admin sees the same figures (the aggregate is not redone)...
    assert table_numbers(admin_client.get(REPORT), "coverage-table", "data-state")["none"] == [5]
    assert "Refresh now" in first.text or "今すぐ" in first.text
    # ...and "Refresh now" recounts.
    fresh = admin_client.get(REPORT + "?refresh=1")
    assert table_numbers(fresh, "coverage-table", "data-state")["none"] == [6]
    assert table_numbers(admin_client.get(REPORT), "coverage-table", "data-state")["none"] == [6]
