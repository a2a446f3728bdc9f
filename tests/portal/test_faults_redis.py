"""Redis down: signed-in people stay signed in, and nobody sees a 500.

Every page a person may use while Redis is down is one row of PAGES_WHILE_REDIS_IS_DOWN; a new
page (nudge, registration, reset wizard) is covered by adding its row.
"""

import pytest

from tests.support.clients import PASSWORD, client_for, sign_in
from tests.support.faults import PrivateRedis

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

NEW_PASSWORD = "Brand-new-horse-77"
SHOWN, DONE, REFUSED = 200, 302, 503  # 503: the clear "try again later" page
TRY_AGAIN = ("try again", "もう一度お試しください")

# (what, signed in first, method, path, form data, the status it answers)
PAGES_WHILE_REDIS_IS_DOWN = [
    ("sign-in page", False, "get", "/accounts/login/", None, SHOWN),
    ("sign-in", False, "post", "/accounts/login/", {"login": "{email}", "password": PASSWORD}, REFUSED),
    ("wrong password", False, "post", "/accounts/login/", {"login": "{email}", "password": "nope"}, REFUSED),
    ("home", True, "get", "/", None, SHOWN),
    ("password change page", True, "get", "/accounts/password/change/", None, SHOWN),
    ("password change", True, "post", "/accounts/password/change/",
     {"oldpassword": PASSWORD, "password1": NEW_PASSWORD, "password2": NEW_PASSWORD}, REFUSED),
    ("language switch", True, "post", "/i18n/setlang/", {"language": "ja", "next": "/"}, DONE),
    ("security info", True, "get", "/security-info/", None, SHOWN),
    ("method picker", True, "post", "/security-info/methods/", {"method": "questions"}, DONE),
    ("security questions page", True, "get", "/security-info/questions/", None, SHOWN),
    ("security questions", True, "post", "/security-info/questions/",
     {"question_1": "1", "answer_1": "tokyo", "question_2": "2", "answer_2": "osaka",
      "question_3": "3", "answer_3": "kyoto"}, DONE),
    ("authenticator set-up", True, "post", "/security-info/authenticator/", {}, DONE),
    ("reset start page", False, "get", "/accounts/password/reset/", None, SHOWN),
    ("reset start", False, "post", "/accounts/password/reset/", {"email": "{email}"}, DONE),
    ("sign-out", True, "post", "/accounts/logout/", {}, DONE),
]


@pytest.fixture
def redis_cache(settings):
    server = PrivateRedis().start()
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": server.url,
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
    yield server
    server.stop()


def test_sessions_survive_and_sign_in_refuses_cleanly_while_redis_is_down(redis_cache, no_nudge, tenant, user):
    signed_in = client_for(tenant)
    assert sign_in(signed_in, user.email).status_code == 302

    redis_cache.stop()
    home = signed_in.get("/")
    assert home.status_code == 200 and user.email in home.text

    newcomer = client_for(tenant, HTTP_ACCEPT_LANGUAGE="en")
    attempt = sign_in(newcomer, user.email)
    # allauth's rate limit lives in the cache: without it the sign-in is refused, clearly.
    assert attempt.status_code == 503
    assert "try again" in attempt.text
    assert attempt["Retry-After"]
    assert "_auth_user_id" not in newcomer.session

    redis_cache.start()
    assert sign_in(client_for(tenant), user.email).status_code == 302


@pytest.mark.parametrize(
    "what, signed_in, method, path, data, expected", PAGES_WHILE_REDIS_IS_DOWN,
    ids=[row[0] for row in PAGES_WHILE_REDIS_IS_DOWN],
)
def test_no_page_answers_500_while_redis_is_down(
    redis_cache, no_nudge, tenant, user, what, signed_in, method, path, data, expected,
):
    client = client_for(tenant, HTTP_ACCEPT_LANGUAGE="en")
    if signed_in:
        assert sign_in(client, user.email).status_code == 302
    data = {key: value.format(email=user.email) for key, value in (data or {}).items()}

    redis_cache.stop()
    # The test client re-raises a view's exception: an unhandled Redis error fails right here.
    response = getattr(client, method)(path, data) if data is not None else client.get(path)
    assert response.status_code == expected, (what, response.status_code)
    if response.status_code == 503:
        # In the signed-in user's saved language (Japanese here) or the browser's.
        assert any(text in response.text for text in TRY_AGAIN) and response["Retry-After"]
        user.refresh_from_db()
        assert user.check_password(PASSWORD)  # refused means nothing changed
        assert ("_auth_user_id" in client.session) is signed_in
