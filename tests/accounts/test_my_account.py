"""My account: the user's own security at a glance, their sessions, their language.

What a user sees and can do on the home page, and what they must never see (another user's
activity or sessions) or be able to do (end someone else's session, change state without the
form's CSRF token).
"""

import pytest
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.support.clients import PASSWORD, client_for, sign_in

CHROME_WINDOWS = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                  "Chrome/130.0 Safari/537.36")
FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0"
SAFARI_IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
                 "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1")


@pytest.fixture(autouse=True)
def _no_nudge(no_nudge):
    pass


@pytest.fixture
def user(user):
    # The texts below are the English ones (each user's language applies once signed in).
    user.language = "en"
    user.save()
    return user


def browser(user, agent, address="203.0.113.10", **extra):
    signed_in = client_for(user.tenant, HTTP_USER_AGENT=agent, REMOTE_ADDR=address,
                           HTTP_ACCEPT_LANGUAGE="en", **extra)
    response = sign_in(signed_in, user.email, PASSWORD)
    assert response.status_code == 302, response.content
    return signed_in


def home(signed_in):
    response = signed_in.get("/")
    assert response.status_code == 200
    return response.content.decode()


def is_signed_in(signed_in):
    return signed_in.get("/").status_code == 200


def test_the_home_page_shows_each_method_with_when_it_was_added_and_last_used(user, settings):
    settings.LANGUAGE_CODE = "en"
    user.language = "en"
    user.save()
    page = home(browser(user, CHROME_WINDOWS))
    assert "My account" in page and "Security info" in page
    assert page.count("Not set up") == 2  # questions and authenticator app
    TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    page = home(browser(user, CHROME_WINDOWS))
    assert page.count("Not set up") == 1
    assert "Not used yet" in page
    assert 'href="/security-info/"' in page


def test_recent_activity_lists_own_sign_ins_with_device_and_address_never_anothers(user, make_user,
                                                                                   tenant):
    user.language = "en"
    user.save()
    colleague = make_user(tenant, "taro@demo.example", language="en")
    browser(colleague, FIREFOX_LINUX, address="198.51.100.99")
    page = home(browser(user, CHROME_WINDOWS, address="203.0.113.10"))
    activity = page.split('id="panel-activity"', 1)[1]
    assert "Signed in" in activity
    assert "Chrome on Windows" in activity and "203.0.113.10" in activity
    assert "198.51.100.99" not in page and "Firefox on Linux" not in page


def test_sessions_are_listed_and_one_can_be_signed_out_from_another_browser(user):
    laptop = browser(user, CHROME_WINDOWS)
    phone = browser(user, SAFARI_IPHONE, address="203.0.113.20")
    page = home(laptop)
    sessions = page.split('id="panel-sessions"', 1)[1].split("</table>", 1)[0]
    assert "Chrome on Windows" in sessions and "Safari on iOS" in sessions
    assert sessions.count("/end/") == 1  # not offered for the browser in use
    end_url = sessions.split('action="', 2)[1].split('"', 1)[0]
    response = laptop.post(end_url)
    assert response.status_code == 302
    assert not is_signed_in(phone)
    assert is_signed_in(laptop)


def test_sign_out_everywhere_else_keeps_only_this_browser(user):
    user.language = "en"
    user.save()
    laptop = browser(user, CHROME_WINDOWS)
    others = [browser(user, SAFARI_IPHONE), browser(user, FIREFOX_LINUX)]
    response = laptop.post("/accounts/sessions/end-others/", follow=True)
    assert "You are signed out everywhere else." in response.content.decode()
    assert is_signed_in(laptop)
    assert not any(is_signed_in(other) for other in others)
    activity = home(laptop).split('id="panel-activity"', 1)[1]
    assert "Signed out of every other session" in activity


def test_another_users_session_cannot_be_ended(user, make_user, tenant):
    from allauth.usersessions.models import UserSession

    colleague = make_user(tenant, "taro@demo.example")
    colleague_browser = browser(colleague, FIREFOX_LINUX)
    theirs = UserSession.objects.get(user=colleague)
    attacker = browser(user, CHROME_WINDOWS)
    assert attacker.post(f"/accounts/sessions/{theirs.pk}/end/").status_code == 404
    assert is_signed_in(colleague_browser)


def test_session_actions_need_the_forms_csrf_token(user):
    guarded = client_for(user.tenant, enforce_csrf_checks=True, HTTP_USER_AGENT=CHROME_WINDOWS)
    guarded.force_login(user)
    other = browser(user, SAFARI_IPHONE)
    assert guarded.post("/accounts/sessions/end-others/").status_code == 403
    assert guarded.post("/accounts/language/", {"language": "en"}).status_code == 403
    assert is_signed_in(other)


def test_language_choice_is_kept_with_the_account(user):
    user.language = "ja"
    user.save()
    signed_in = browser(user, CHROME_WINDOWS)
    response = signed_in.post("/accounts/language/", {"language": "en"})
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.language == "en"
    assert "My account" in home(signed_in)
    # A value that is not offered changes nothing and says why.
    response = signed_in.post("/accounts/language/", {"language": "xx"}, follow=True)
    user.refresh_from_db()
    assert user.language == "en"
    assert "Choose one of the languages offered." in response.content.decode()


def test_signed_out_visitors_are_sent_to_sign_in(tenant):
    response = Client(HTTP_HOST="demo.localhost").get("/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_sign_out_everywhere_else_also_ends_the_applications_tokens(user, tenant):
    from tests.support.oidc import make_client, tokens_for

    client, secret = make_client(tenant)
    laptop = browser(user, CHROME_WINDOWS)
    tokens = tokens_for(laptop, user, client, secret)
    userinfo = client_for(tenant).get("/identity/o/api/userinfo",
                                      HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}")
    assert userinfo.status_code == 200
    laptop.post("/accounts/sessions/end-others/")
    refused = client_for(tenant).get("/identity/o/api/userinfo",
                                     HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}")
    assert refused.status_code == 401
    refresh = client_for(tenant).post("/identity/o/api/token", {
        "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
        "client_id": client.id, "client_secret": secret})
    assert refresh.status_code == 400 and refresh.json()["error"] == "invalid_grant"
    assert is_signed_in(laptop)


def test_the_home_page_reads_each_panel_once(user, django_assert_max_num_queries):
    signed_in = browser(user, CHROME_WINDOWS)
    # The session's user, the registration status, the sessions and the recent activity.
    with django_assert_max_num_queries(4):
        home(signed_in)
