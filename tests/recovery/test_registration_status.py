"""One user, one registration status: the sign-in nudge, the admin's user list and its CSV export,
the admin report and the weekly digest e-mail say the same, user by user and in totals.

The fixture is built by the real flows: employees of a tenant whose policy asks for two methods
register security questions, the authenticator app or both through the sign-in nudge, or skip it.
"""

import csv
import io
import re
from collections import Counter
from datetime import timedelta

import pyotp
import pytest
from django.core import mail as django_mail
from django.utils import timezone, translation

from accounts.models import User
from recovery.models import RecoveryProfile
from recovery.tasks import send_admin_digests
from tests.support.admin import table_numbers, verified_client
from tests.support.clients import client_for, sign_in
from tests.support.registration import (
    CODE,
    FINISH,
    NUDGE,
    QUESTIONS,
    bank,
    in_nudge,
    question_data,
    scan_page,
)

pytestmark = pytest.mark.usefixtures("eager_tasks")
USERS = "/admin/accounts/user/"
# What the admin (English) reads for each status: the labels of recovery.status.STATUS_LABELS.
LABELS = {
    "registered": "Registered",
    "reconfirm": "Needs re-confirm",
    "skipped": "Skipped",
    "none": "Not registered",
}


def register_questions_in_nudge(client):
    assert client.post(QUESTIONS, question_data(bank(3), ["Tokyo", "Mochi", "Blue whale"])).status_code == 302
    return client.post(FINISH)


def register_app_in_nudge(client):
    _page, secret, _account, _png = scan_page(client)
    assert client.post(CODE, {"code": pyotp.TOTP(secret).now()}).status_code == 302
    return client.post(FINISH)


def skip(client):
    response = client.post(NUDGE + "skip/")
    assert response.status_code == 302 and response["Location"] == "/"


@pytest.fixture
def two_methods(make_tenant):
    return make_tenant("two", "Two Methods Inc.", methods_required_for_reset=2)


@pytest.fixture
def employees(two_methods, make_user):
    """{user: the status the definition gives them}, every user made by the real flows."""
    tenant = two_methods
    expected = {}

    def person(name, status, **fields):
        user = make_user(tenant, f"{name}@two.example", **fields)
        expected[user] = status
        return user

    # Only the app, never skipped: one method of the two the policy asks for.
    client = in_nudge(tenant, person("app.only", "none"))
    assert register_app_in_nudge(client)["Location"] == NUDGE  # the nudge asks for the other one
    # Only the questions.
    client = in_nudge(tenant, person("questions.only", "none"))
    assert register_questions_in_nudge(client)["Location"] == NUDGE
    # Both: the nudge lets them through.
    client = in_nudge(tenant, person("both", "registered"))
    assert register_questions_in_nudge(client)["Location"] == NUDGE
    client.get(NUDGE)
    assert register_app_in_nudge(client)["Location"] == "/"
    # Skipped without registering anything, and skipped after the app.
    skip(in_nudge(tenant, person("skipper", "skipped")))
    client = in_nudge(tenant, person("app.then.skip", "skipped"))
    register_app_in_nudge(client)
    client.get(NUDGE)
    skip(client)
    # Both, confirmed longer ago than the policy's 180 days.
    stale = person("stale", "reconfirm")
    client = in_nudge(tenant, stale)
    register_questions_in_nudge(client)
    client.get(NUDGE)
    register_app_in_nudge(client)
    RecoveryProfile.objects.filter(user=stale).update(
        methods_confirmed_at=timezone.now() - timedelta(days=181)
    )
    # Never signed in.
    person("never", "none")
    # Registered both, then deactivated: listed with its status, but not an active user.
    gone = person("gone", "registered")
    client = in_nudge(tenant, gone)
    register_questions_in_nudge(client)
    client.get(NUDGE)
    register_app_in_nudge(client)
    gone.is_active = False
    gone.save(update_fields=["is_active"])
    # The admin: an authenticator only (test_admin.verified_client), one method of two.
    person("admin", "none", is_staff=True, language="en")
    return expected


def admin_of(employees):
    return next(user for user in employees if user.is_staff)


def active_totals(employees):
    counts = Counter(status for user, status in employees.items() if user.is_active)
    return {status: counts.get(status, 0) for status in LABELS}


def digest_numbers(text):
    numbers = {}
    for status, label in LABELS.items():
        found = re.search(rf"^{re.escape(label)}: (\d+)$", text, re.M)
        numbers[status] = int(found.group(1)) if found else None
    return numbers


def user_list_statuses(client):
    """{email: the text of the registration column} from the admin's user list."""
    page = client.get(USERS)
    assert page.status_code == 200
    rows = re.findall(r"<tr>(.*?)</tr>", page.text, re.S)
    statuses = {}
    for row in rows:
        email = re.search(r"[\w.-]+@two\.example", row)
        column = re.search(r'<td class="field-registration">(.*?)</td>', row, re.S)
        if email and column:
            statuses[email.group(0)] = column.group(1).strip()
    return statuses


@pytest.mark.django_db
def test_report_digest_user_list_and_export_agree_user_by_user_and_in_totals(
    two_methods, employees, django_capture_on_commit_callbacks
):
    admin = admin_of(employees)
    client = verified_client(admin, two_methods, HTTP_ACCEPT_LANGUAGE="en")
    expected_totals = active_totals(employees)
    assert expected_totals == {"registered": 1, "reconfirm": 1, "skipped": 2, "none": 4}

    # The admin report and the weekly digest: the same totals.
    report = table_numbers(client.get("/admin/report/?refresh=1"), "coverage-table", "data-state")
    report_totals = {status: numbers[0] for status, numbers in report.items()}
    with django_capture_on_commit_callbacks(execute=True):
        assert send_admin_digests() == 1
    [digest] = [m for m in django_mail.outbox if m.to == [admin.email]]
    assert digest_numbers(digest.body) == report_totals
    assert report_totals == expected_totals
    assert f"Active users: {sum(expected_totals.values())}" in digest.body

    # The user list's column and the CSV export: user by user.
    listed = user_list_statuses(client)
    export = client.get(USERS + "export/")
    exported = {row["email"]: row["registration"] for row in
                csv.DictReader(io.StringIO(export.content.decode("utf-8-sig")))}
    for user, status in employees.items():
        assert listed[user.email] == LABELS[status], user.email
        assert exported[user.email] == status, user.email
    # The list's filter selects the same users.
    for status in LABELS:
        page = client.get(USERS + f"?registration={status}")
        shown = set(re.findall(r"[\w.-]+@two\.example", page.text.split('id="result_list"', 1)[1]))
        assert shown == {user.email for user, s in employees.items() if s == status}, status


@pytest.mark.django_db
def test_the_nudge_asks_exactly_those_who_are_not_registered(two_methods, employees):
    from recovery import policy

    for user, status in employees.items():
        if not user.is_active:
            continue
        reason = policy.nudge_reason(user, two_methods)
        assert reason == {"registered": None, "reconfirm": policy.RECONFIRM}.get(status, policy.REGISTER)
        if user.is_staff:
            continue  # staff sign in with the authenticator code first (test_otp)
        response = sign_in(client_for(two_methods), user.email)
        assert (response["Location"] == NUDGE) == (status != "registered"), user.email


@pytest.mark.django_db
def test_the_per_user_status_is_the_annotation_evaluated_for_one_user(two_methods, employees):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from recovery import status as registration

    users = User.objects.filter(pk__in=[u.pk for u in employees])
    annotated = dict(registration.with_registration_status(users).values_list("email", "registration_status"))
    for user, expected in employees.items():
        assert registration.registration_status(user).state == expected == annotated[user.email]
    # A platform operator (no tenant) is judged by the default policy: one method is enough.
    root = User.objects.create_superuser("root@platform.example", "x" * 20)
    assert registration.registration_status(root).state == "none"
    TOTPDevice.objects.create(user=root, name="app", confirmed=True)
    assert registration.registration_status(root).state == "registered"


@pytest.mark.django_db
def test_status_labels_are_translated(two_methods):
    from recovery.status import STATUS_LABELS

    with translation.override("en"):
        assert {key: str(label) for key, label in STATUS_LABELS.items()} == LABELS
    with translation.override("ja"):
        assert all(str(label) not in LABELS.values() for label in STATUS_LABELS.values())
