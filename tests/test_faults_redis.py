"""Redis down: signed-in people stay signed in, and nobody sees a 500."""

import pytest

from .conftest import client_for, sign_in
from .faults import PrivateRedis

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


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
    assert attempt.status_code in (302, 503)
    if attempt.status_code == 503:
        assert "try again" in attempt.text
        assert attempt["Retry-After"]

    redis_cache.start()
    assert sign_in(client_for(tenant), user.email).status_code == 302
