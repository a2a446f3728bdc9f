"""The security-info page: the user's methods, change and remove behind a recent sign-in."""

import time

import pytest
from django.utils import timezone

from accounts.otp import authenticator_device
from audit.models import AuditEvent
from recovery import services, status
from tests.support.clients import PASSWORD, client_for, sign_in
from tests.support.nudge import NUDGE, register_questions
from tests.support.registration import bank, field_errors, question_data

INFO = "/security-info/"


def register_authenticator(user):
    device = services.start_authenticator_setup(user)
    return services.confirm_authenticator(device)


def signed_in_client(tenant, user, **defaults):
    client = client_for(tenant, **defaults)
    assert sign_in(client, user.email)["Location"] == "/"
    return client


def age_sign_in(client, seconds):
    """As if the password had been typed `seconds` ago."""
    session = client.session
    session["account_authentication_methods"] = [
        {**record, "at": time.time() - seconds} for record in session["account_authentication_methods"]
    ]
    session.save()


@pytest.mark.django_db
def test_page_lists_methods_with_dates_change_and_remove(tenant, user):
    register_questions(user)
    register_authenticator(user)
    client = signed_in_client(tenant, user)
    page = client.get(INFO)
    assert page.status_code == 200 and page.text.count("<h1") == 1
    today = timezone.localdate().isoformat()
    assert page.text.count(f">{today}</time>") == 2
    for wording in ("セキュリティ情報", "秘密の質問", "認証アプリ", "変更", "削除"):
        assert wording in page.text
    assert 'action="/security-info/remove/questions/"' in page.text
    assert 'action="/security-info/remove/authenticator/"' in page.text
    english = signed_in_client(tenant, user, HTTP_ACCEPT_LANGUAGE="en")
    english.cookies["django_language"] = "en"
    page = english.get(INFO)
    for wording in ("Security info", "Security questions", "Authenticator app", "Change", "Remove"):
        assert wording in page.text


@pytest.mark.django_db
def test_anonymous_visitors_are_sent_to_sign_in(tenant):
    client = client_for(tenant)
    for path in (INFO, INFO + "questions/", INFO + "authenticator/"):
        assert client.get(path)["Location"].startswith("/accounts/login/")
    assert client.post(INFO + "remove/questions/")["Location"].startswith("/accounts/login/")


@pytest.mark.django_db
def test_removing_the_last_method_brings_the_nudge_back(tenant, user):
    register_questions(user)
    client = signed_in_client(tenant, user)
    response = client.post(INFO + "remove/questions/", follow=True)
    assert "秘密の質問を削除しました" in response.text
    assert status.registered_methods(user) == set()
    assert AuditEvent.objects.filter(user=user, kind="method.removed", data__method="questions").exists()
    assert "方法の追加" in response.text
    client.post("/accounts/logout/")
    assert sign_in(client, user.email)["Location"] == NUDGE


@pytest.mark.django_db
def test_remove_after_15_minutes_asks_for_the_password_first(tenant, user):
    register_questions(user)
    client = signed_in_client(tenant, user)
    age_sign_in(client, 16 * 60)
    response = client.post(INFO + "remove/questions/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/reauthenticate/")
    assert status.registered_methods(user) == {"questions"}  # nothing changed yet
    assert client.get(response["Location"]).status_code == 200

    wrong = client.post(response["Location"], {"password": "not-it"})
    assert wrong.status_code == 200 and status.registered_methods(user) == {"questions"}
    client.post(response["Location"], {"password": PASSWORD})
    assert status.registered_methods(user) == set()  # the suspended request went through


@pytest.mark.django_db
def test_change_after_15_minutes_asks_for_the_password_first(tenant, user):
    register_questions(user)
    client = signed_in_client(tenant, user)
    age_sign_in(client, 16 * 60)
    for path in (INFO + "questions/", INFO + "authenticator/"):
        assert client.get(path)["Location"].startswith("/accounts/reauthenticate/")
    age_sign_in(client, 5 * 60)
    assert client.get(INFO + "questions/").status_code == 200


@pytest.mark.django_db
def test_change_questions_from_the_security_info_page(tenant, user):
    register_questions(user)
    old = set(services.questions_device(user).answers.values_list("question_id", flat=True))
    client = signed_in_client(tenant, user)
    questions = bank(6)[3:]
    page = client.post(INFO + "questions/", question_data(questions, ["four", "five", "four"]))
    assert "異なる回答" in field_errors(page, "answer_3")
    assert set(services.questions_device(user).answers.values_list("question_id", flat=True)) == old

    done = client.post(INFO + "questions/", question_data(questions, ["four", "five", "six"]))
    assert "セキュリティの質問が正常に登録されました" in client.get(done["Location"]).text
    assert client.post("/security-info/finish/")["Location"] == INFO
    new = set(services.questions_device(user).answers.values_list("question_id", flat=True))
    assert new == {q.pk for q in questions}
    assert services.verify_answers(user, {questions[0].pk: "FOUR"})


@pytest.mark.django_db
def test_authenticator_cannot_be_removed_when_sign_in_needs_it(make_tenant, make_user):
    mfa = make_tenant("mfa", mfa_required=True)
    user = make_user(mfa, "shiro@mfa.example")
    register_authenticator(user)
    # Signed in with the password just now (the sign-in code step is the sso helper's).
    client = client_for(mfa)
    client.force_login(user)
    session = client.session
    session["account_authentication_methods"] = [{"method": "password", "at": time.time()}]
    session["account_authentication_methods_user"] = str(user.pk)
    session.save()
    page = client.get(INFO)
    assert 'action="/security-info/remove/authenticator/"' not in page.text
    response = client.post(INFO + "remove/authenticator/", follow=True)
    assert "認証アプリが必要です" in response.text
    assert authenticator_device(user) is not None


@pytest.mark.django_db
def test_unknown_method_is_a_404(tenant, user):
    register_questions(user)
    client = signed_in_client(tenant, user)
    assert client.post(INFO + "remove/password/").status_code == 404
    assert status.registered_methods(user) == {"questions"}
