"""Settings an attacker benefits from: a debug page on a real deployment, cookies that travel
over plain HTTP or ride along on cross-site requests. Each is checked in a process started the
way an operator starts the portal (its own environment, no pytest), not in this one.
"""

import json
import subprocess
import sys
from http.cookies import SimpleCookie

import pytest
from django.conf import settings

from accounts.services import provision_user
from tenants.services import create_tenant
from tests.support.faults import ROOT, database_url_for, portal_env

PRODUCTION = {"DJANGO_ENV": "production", "SECRET_KEY": "k" * 40 + "-a-production-secret-for-tests"}
PASSWORD = "Harbour-lights-2026"


def run_python(code, **env):
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=portal_env(**env),
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.strip().splitlines()[-1]


SETTING = """
import os, django
os.environ["DJANGO_SETTINGS_MODULE"] = "portal.settings"
django.setup()
from django.conf import settings
print(settings.{name})
"""


# --- DEBUG ------------------------------------------------------------------------------------

@pytest.mark.parametrize("environment", [
    # The README's PostgreSQL/Redis set-up: real servers, DJANGO_ENV never mentioned.
    {"DATABASE_URL": "postgres://postgres@127.0.0.1:5432/portal", "REDIS_URL": "redis://127.0.0.1:6379/0",
     "DJANGO_ENV": None},
    {"DATABASE_URL": "postgres://postgres@127.0.0.1:5432/portal", "DJANGO_ENV": "development"},
    {"REDIS_URL": "redis://127.0.0.1:6379/0", "DATABASE_URL": None, "DJANGO_ENV": None},
    # Nothing at all (the embedded default outside `make run`).
    {"DATABASE_URL": None, "REDIS_URL": None, "DJANGO_ENV": None},
    {"DJANGO_ENV": "staging"},
    {**PRODUCTION, "DEBUG": None},
])
def test_debug_is_off_unless_asked_for(environment):
    env = {"DEBUG": None, "PORTAL_TESTING": None, **environment}
    assert run_python(SETTING.format(name="DEBUG"), **env) == "False"


def test_debug_is_on_only_when_set_and_make_run_sets_it():
    assert run_python(SETTING.format(name="DEBUG"), DEBUG="true", DJANGO_ENV=None) == "True"
    # `make run` (the embedded default for trying the portal) asks for it explicitly.
    serve = (ROOT / ".ci" / "serve").read_text()
    assert "DEBUG=true" in serve or "DEBUG=True" in serve


# --- Cookies under production settings ---------------------------------------------------------

COOKIE_WALK = """
import json, os, django
os.environ["DJANGO_SETTINGS_MODULE"] = "portal.settings"
django.setup()
from django.conf import settings
from django.test import Client, override_settings

# Only the static files storage differs from a deployment: its manifest comes from collectstatic,
# which this test does not run.
storages = {**settings.STORAGES, "staticfiles": {
    "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
seen = []
with override_settings(STORAGES=storages):
    client = Client(HTTP_HOST="cookies.localhost", secure=True, HTTP_X_FORWARDED_PROTO="https")

    def keep(label, response):
        assert response.status_code < 400, (label, response.status_code)
        for morsel in response.cookies.values():
            seen.append([label, morsel.OutputString()])

    keep("sign-in page", client.get("/accounts/login/"))
    keep("language", client.post("/i18n/setlang/", {"language": "en", "next": "/"}))
    keep("sign-in", client.post("/accounts/login/", {"login": "%(email)s", "password": "%(password)s"}))
    keep("home", client.get("/"))
    keep("sign-out", client.post("/accounts/logout/"))
    keep("after sign-out", client.get("/accounts/login/"))
print(json.dumps(seen))
"""


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_every_cookie_is_secure_httponly_and_same_site_in_production():
    if not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
        pytest.fail("this test runs a production process on the test database: PostgreSQL only")
    tenant = create_tenant(slug="cookies", name="Cookie Jar Ltd.", hosts=["cookies.localhost"])
    tenant.policy.nudge_enabled = False
    tenant.policy.save()
    provision_user(tenant=tenant, email="eve@cookies.example", password=PASSWORD)
    env = {**PRODUCTION, "DATABASE_URL": database_url_for(settings.DATABASES["default"]["NAME"]),
           "REDIS_URL": None}
    walk = json.loads(run_python(COOKIE_WALK % {"email": "eve@cookies.example", "password": PASSWORD},
                                 **env))

    names = set()
    for label, header in walk:
        cookie = SimpleCookie()
        cookie.load(header)
        [(name, morsel)] = cookie.items()
        names.add(name)
        where = f"{label}: Set-Cookie: {header}"
        # Deletions too: a cookie name whose deletion travels without Secure can be shadowed.
        assert morsel["secure"], where
        if morsel.value not in ("", '""'):  # (a deletion has nothing for scripts to read)
            assert morsel["httponly"], where
        assert morsel["samesite"] in ("Lax", "Strict"), where
        assert morsel["path"] == "/" and not morsel["domain"], where
    # Every cookie the portal sets was seen: session, CSRF, language and messages.
    for kind in ("sessionid", "csrftoken", "django_language", "messages"):
        assert any(name.endswith(kind) for name in names), (kind, names)
