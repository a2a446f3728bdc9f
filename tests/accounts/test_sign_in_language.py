"""The language a visitor chose before signing in is the one they get (and keep) after it."""

import pytest
from django.conf import settings

from tests.support.clients import PASSWORD, client_for
from tests.support.html import parse


def signed_in_page(client, email):
    response = client.post("/accounts/login/", {"login": email, "password": PASSWORD}, follow=True)
    assert response.redirect_chain, "the sign-in was refused"
    return parse(response.content)


def messages_of(page):
    return [item.text() for item in page.find_all() if "message" in item.get("class", "").split()]


@pytest.mark.django_db
def test_a_language_chosen_before_sign_in_is_kept_and_saved(no_nudge, make_user):
    user = make_user(no_nudge, "kenji@demo.example")  # saved language: Japanese, the default
    assert user.language == "ja"
    client = client_for(no_nudge, HTTP_ACCEPT_LANGUAGE="en")
    client.post("/i18n/setlang/", {"language": "en", "next": "/accounts/login/"})
    assert settings.LANGUAGE_COOKIE_NAME in client.cookies

    page = signed_in_page(client, user.email)

    assert page.find("html").get("lang") == "en"
    assert any("Successfully signed in" in text for text in messages_of(page))
    user.refresh_from_db()
    assert user.language == "en"  # e-mails follow the choice too
    # A later visit from a browser without the cookie still gets English.
    later = client_for(no_nudge, HTTP_ACCEPT_LANGUAGE="ja")
    later.force_login(user)
    assert parse(later.get("/").content).find("html").get("lang") == "en"


@pytest.mark.django_db
def test_without_a_choice_the_saved_language_applies_and_the_message_follows_the_page(
    no_nudge, make_user
):
    user = make_user(no_nudge, "kenji@demo.example")  # Japanese
    client = client_for(no_nudge, HTTP_ACCEPT_LANGUAGE="en")  # only the browser's default
    assert parse(client.get("/accounts/login/").content).find("html").get("lang") == "en"

    page = signed_in_page(client, user.email)

    assert page.find("html").get("lang") == "ja"
    [message] = messages_of(page)
    assert "サインイン" in message and "Successfully" not in message
    user.refresh_from_db()
    assert user.language == "ja"


@pytest.mark.django_db
def test_a_cookie_naming_no_language_of_ours_changes_nothing(no_nudge, make_user):
    user = make_user(no_nudge, "kenji@demo.example")
    client = client_for(no_nudge)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "xx-evil"

    page = signed_in_page(client, user.email)

    assert page.find("html").get("lang") == "ja"
    user.refresh_from_db()
    assert user.language == "ja"
