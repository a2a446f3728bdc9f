"""Passwords under attack: guessing the current one on a change page, changing it unnoticed,
and passwords that only look long (spaces, invisible characters, the organisation's name).
"""

from concurrent.futures import ThreadPoolExecutor

import pytest
from allauth.usersessions.models import UserSession
from django.contrib.auth.password_validation import validate_password
from django.contrib.sessions.models import Session
from django.core import mail as django_mail
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import translation
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from accounts.invites import invite_tokens
from accounts.models import User
from audit.models import AuditEvent
from outbox import kinds, mail
from outbox.models import OutboxEmail
from portal.celery import app as celery_app
from tenants.models import TenantHost
from tests.support.clients import PASSWORD, client_for, sign_in

from .conftest import NEEDS_TWO_NODES

CHANGE = "/accounts/password/change/"
ADMIN_CHANGE = "/admin/password_change/"
NEW = "Quiet-lantern-2026"
ATTEMPTS_ALLOWED = 5  # allauth's ACCOUNT_RATE_LIMITS["change_password"]: 5/m/user


@pytest.fixture
def eager_tasks():
    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = eager
    mail.close_connection()


def change_form(old, new=NEW):
    return {"oldpassword": old, "password1": new, "password2": new}


# --- Guessing the current password on a change page --------------------------------------------

@pytest.mark.django_db
def test_the_admins_password_change_page_is_the_rate_limited_one(admin_client, org_admin):  # noqa: F811
    # The admin's own form took 12 wrong current passwords in 3 s: now it only leads to the
    # portal's page, checking nothing, so it is no guessing oracle.
    for n in range(12):
        response = admin_client.post(ADMIN_CHANGE, {
            "old_password": f"guess-{n}", "new_password1": NEW, "new_password2": NEW,
        })
        assert response.status_code == 302, n
        assert response["Location"] == f"{CHANGE}?next=/admin/"
    assert admin_client.get(ADMIN_CHANGE)["Location"] == f"{CHANGE}?next=/admin/"
    assert admin_client.get("/admin/password_change/done/")["Location"] == "/admin/"
    # The one page: after five tries, 429, even for the right password.
    answers = [admin_client.post(CHANGE, change_form(f"guess-{n}")).status_code
               for n in range(ATTEMPTS_ALLOWED)]
    assert answers == [200] * ATTEMPTS_ALLOWED
    assert admin_client.post(CHANGE, change_form(PASSWORD)).status_code == 429
    org_admin.refresh_from_db()
    assert org_admin.check_password(PASSWORD)
    # The admin's pages link to it (the header's "change password").
    assert f'href="{ADMIN_CHANGE}"' in admin_client.get("/admin/").text


@pytest.mark.django_db
def test_an_admin_changing_their_own_password_is_told_and_returns_to_the_admin(
    admin_client, org_admin, eager_tasks, django_capture_on_commit_callbacks  # noqa: F811
):
    page = admin_client.get(ADMIN_CHANGE, follow=True)
    assert page.status_code == 200 and 'name="oldpassword"' in page.text
    with django_capture_on_commit_callbacks(execute=True):
        done = admin_client.post(f"{CHANGE}?next=/admin/", change_form(PASSWORD))
    assert done.status_code == 302 and done["Location"] == "/admin/"
    assert admin_client.get("/admin/").status_code == 200  # still signed in, still verified
    [message] = [m for m in django_mail.outbox if m.to == [org_admin.email]]
    assert "was changed on" in message.body
    org_admin.refresh_from_db()
    assert org_admin.check_password(NEW)


@pytest.fixture
def employee(no_nudge, make_user):
    return make_user(no_nudge, "taro@demo.example", name="Taro", language="en")


def needs_two_nodes(test):
    for mark in NEEDS_TWO_NODES:
        test = mark(test)
    return test


@needs_two_nodes
def test_parallel_guesses_on_both_nodes_get_five_tries_in_all(employee, two_nodes, browser_for):
    node_a, node_b = two_nodes
    browser = browser_for("demo.localhost")
    assert browser.sign_in(node_a, employee.email, PASSWORD).status_code == 302
    token = browser.csrf_token(node_b, CHANGE)

    def guess(n):
        node = (node_a, node_b)[n % 2]
        return browser.post(node, CHANGE, change_form(f"guess-{n}"), token=token).status_code

    with ThreadPoolExecutor(max_workers=12) as pool:
        answers = list(pool.map(guess, range(12)))
    assert sorted(set(answers)) == [200, 429], answers
    assert answers.count(200) <= ATTEMPTS_ALLOWED, answers
    # Then the right password is refused too, on either node, and nothing changed.
    for node in two_nodes:
        assert browser.post(node, CHANGE, change_form(PASSWORD), token=token).status_code == 429
    employee.refresh_from_db()
    assert employee.check_password(PASSWORD)


# --- A changed password is told, and ends the other sessions -------------------------------------

@pytest.mark.django_db
def test_a_password_change_on_the_account_page_emails_the_user(
    employee, eager_tasks, django_capture_on_commit_callbacks
):
    client = client_for("demo.localhost")
    assert sign_in(client, employee.email).status_code == 302
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(CHANGE, change_form(PASSWORD))
    assert response.status_code == 302
    [notice] = OutboxEmail.objects.filter(user=employee, kind=kinds.PASSWORD_CHANGED)
    assert notice.context["how"] == "change"
    assert notice.state == OutboxEmail.State.SENT
    [message] = [m for m in django_mail.outbox if m.to == [employee.email]]
    assert message.subject == "Your password was changed (Demo Corporation)"
    assert f"The password of your account {employee.email} was changed on" in message.body
    assert AuditEvent.objects.filter(user=employee, kind="password.changed",
                                     data__how="change").exists()
    # A wrong current password changes nothing and tells nobody.
    client.post(CHANGE, change_form("not-it", "Another-lantern-2026"))
    assert OutboxEmail.objects.filter(user=employee, kind=kinds.PASSWORD_CHANGED).count() == 1


@pytest.mark.django_db
def test_the_notice_is_in_the_users_language(no_nudge, make_user, eager_tasks,
                                            django_capture_on_commit_callbacks):
    hanako = make_user(no_nudge, "hanako2@demo.example", language="ja")
    client = client_for("demo.localhost")
    sign_in(client, hanako.email)
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(CHANGE, change_form(PASSWORD)).status_code == 302
    [message] = [m for m in django_mail.outbox if m.to == [hanako.email]]
    assert "パスワードが変更されました" in message.subject


@pytest.mark.django_db
def test_a_password_change_ends_every_other_session_of_the_user(employee, make_user):
    laptop, phone, stolen = (client_for("demo.localhost") for _ in range(3))
    for client in (laptop, phone, stolen):
        assert sign_in(client, employee.email).status_code == 302
    bystander = client_for("demo.localhost")
    sign_in(bystander, make_user(employee.tenant, "jiro@demo.example").email)
    others = {phone.session.session_key, stolen.session.session_key}

    assert laptop.post(CHANGE, change_form(PASSWORD)).status_code == 302
    # The other sessions are gone from the store, not merely refused at their next request.
    assert not Session.objects.filter(session_key__in=others).exists()
    assert set(UserSession.objects.filter(user=employee).values_list("session_key", flat=True)) == {
        laptop.session.session_key
    }
    assert laptop.get("/").status_code == 200 and employee.email in laptop.get("/").text
    assert stolen.get("/").status_code == 302
    assert bystander.get("/").status_code == 200  # another user's session is untouched


@pytest.mark.django_db
def test_an_admin_cannot_set_a_users_password_behind_their_back(admin_client, make_user, tenant):  # noqa: F811
    # The portal's user admin has no password form (users set their own: invitation, reset);
    # a posted password field is ignored and Django's /password/ page does not exist.
    victim = make_user(tenant, "victim@demo.example", name="Victim")
    change = reverse("admin:accounts_user_change", args=[victim.pk])
    response = admin_client.post(change, {
        "email": victim.email, "name": "Victim", "language": "ja", "is_active": "on",
        "password": "md5$x$0123", "password1": NEW, "password2": NEW,
    })
    assert response.status_code == 302
    victim.refresh_from_db()
    assert victim.check_password(PASSWORD)
    assert admin_client.get(change + "password/", follow=True).status_code == 404
    assert admin_client.get(f"/admin/accounts/user/{victim.pk}/password/",
                            follow=True).status_code == 404


# --- Passwords that only look long ---------------------------------------------------------------

WEAK = {
    "ten spaces": " " * 10,
    "ten ideographic spaces": "\u3000" * 10,
    "ten no-break spaces": "\u00a0" * 10,
    "ten zero-width spaces": "\u200b" * 10,
    "ten tabs": "\t" * 10,
    "zero-width joiners around a short one": "\u200d\u200dAb1!\u200d\u200d\u200d\u200d\u200d",
    "right-to-left override + password123": "\u202epassword123",
    "left-to-right isolate inside": "Tr0ub4dor\u2066&3x-long",
    "soft hyphen inside": "Harbour\u00adlights-77",
    "byte order mark first": "\ufeffQuiet-lantern-2026",
    "Hangul fillers": "\u3164" * 12,
    "full-width common password": "ｐａｓｓｗｏｒｄ１２３",
    "spaced-out short one": "a" + " " * 9 + "b",
    "organisation name": "DemoCorporation-2026!",
    "organisation slug": "my-demo-password-77",
    "slug in capitals": "MY-DEMO-PASSWORD-77",
    "slug in full width": "ｍｙ－ＤＥＭＯ－ｐａｓｓ－７７",
    "name with its spaces": "demo corporation rocks 1",
    "host label": "Northwind-Traders-2026",
}


@pytest.fixture
def employee_with_host(employee):
    TenantHost.objects.create(tenant=employee.tenant, host="login.northwind-traders.example",
                              is_primary=False)
    return employee


@pytest.mark.django_db
@pytest.mark.parametrize("name", list(WEAK))
def test_passwords_that_only_look_long_are_refused(name, employee_with_host):
    with pytest.raises(ValidationError):
        validate_password(WEAK[name], employee_with_host)


GOOD = ["Quiet-lantern-2026", "correct horse battery staple", "さくら並木の坂道を歩く朝",
        "Ünïcödé-Façade-91", "Paßwort-Ölkanne-73",
        # The slug's letters run together only across a hyphen ("kae-demo-miji"): not the name.
        "Kaede-Momiji-2026!"]


@pytest.mark.django_db
@pytest.mark.parametrize("password", GOOD)
def test_a_good_password_still_passes(password, employee_with_host):
    validate_password(password, employee_with_host)


@pytest.mark.django_db
def test_the_refusals_say_why_in_english_and_japanese(employee):
    cases = {
        "\u200b" * 10: ("invisible", "見えない"),
        " " * 12: ("only spaces", "空白だけ"),
        "Demo-Corporation-2026": ("organisation", "組織"),
    }
    for password, (english, japanese) in cases.items():
        for language, expected in (("en", english), ("ja", japanese)):
            with translation.override(language), pytest.raises(ValidationError) as refused:
                validate_password(password, employee)
            assert any(expected in message for message in refused.value.messages), (
                password, language, refused.value.messages)


@pytest.mark.django_db
@pytest.mark.parametrize("password, reason", [
    (" " * 10, "only spaces"),
    ("\u200b" * 10, "invisible or control characters"),
    ("\u202epassword123", "invisible or control characters"),
    ("DEMO-corp-secret-1", "the name of your organisation"),
])
def test_every_password_page_refuses_them_and_says_why(password, reason, employee):
    # The account page.
    client = client_for("demo.localhost")
    sign_in(client, employee.email)
    refused = client.post(CHANGE, change_form(PASSWORD, password))
    assert refused.status_code == 200 and reason in refused.text
    employee.refresh_from_db()
    assert employee.check_password(PASSWORD)
    # The invitation page (a new user's first password).
    invited = User.objects.create(tenant=employee.tenant, email="new@demo.example", password="!")
    uid = urlsafe_base64_encode(force_bytes(invited.pk))
    visitor = client_for("demo.localhost", HTTP_ACCEPT_LANGUAGE="en")
    landing = visitor.get(f"/accounts/invite/{uid}/{invite_tokens.make_token(invited)}/", follow=True)
    assert 'name="new_password1"' in landing.text  # the link is good: the form is shown
    form_url = landing.redirect_chain[-1][0]
    page = visitor.post(form_url, {"new_password1": password, "new_password2": password})
    assert page.status_code == 200 and reason in page.text
    invited.refresh_from_db()
    assert not invited.has_usable_password()
    assert not OutboxEmail.objects.filter(kind=kinds.PASSWORD_CHANGED).exists()
