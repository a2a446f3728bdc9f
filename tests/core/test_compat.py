"""The library internals the portal relies on (core/compat), driven through the libraries' public
entry points under the installed versions: a sign-in, a session, the cache, the checks command,
the OpenID Connect endpoints. Each test fails if the library changes what the entry relies on
(a name, a signature, where it looks a function up), not merely if a name disappears.

The last tests keep it that way: no module outside core/compat patches a library or imports its
private API.
"""

import ast
import socket
import sys
from pathlib import Path

import pytest
import redis
from allauth.account import checks as allauth_checks
from allauth.usersessions.models import UserSession
from django.conf import settings
from django.core import checks
from django.core.cache import caches
from django.core.management import call_command
from django.db import connection
from django.test import Client, RequestFactory
from django.test.utils import CaptureQueriesContext

from accounts.checks import UNIQUE_EMAIL_FINDING
from core.compat import allauth as compat_allauth
from core.compat import django as compat_django
from tenants.models import TenantHost
from tests.support.clients import PASSWORD, client_for, sign_in
from tests.support.oidc import REDIRECT_URI, authorize_url, make_client, sign_in_through

NEEDS_REDIS = [pytest.mark.redis]  # deselected on the SQLite smoke run; never skipped
RATE_LIMITED = "Too many failed sign-ins"
SLOW_HASHERS = settings.PASSWORD_HASHERS


@pytest.fixture(autouse=True)
def fast_hashing(settings):
    # What is tested here is around the password check, not the hash.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", *SLOW_HASHERS]


def with_marks(marks):
    def mark(test):
        for each in marks:
            test = each(test)
        return test
    return mark


def statements_on(table, captured):
    """The verbs (INSERT, SELECT, ...) of the captured statements that name `table`."""
    return [q["sql"].split()[0].upper() for q in captured if f'"{table}"' in q["sql"]]


def test_the_compat_entries_were_checked_against_the_installed_versions():
    # An upgrade is reviewed against core/compat (each entry's reference and test) before the
    # version there is moved on; the exercising tests below are what catch a changed behaviour.
    import allauth
    import django

    assert compat_allauth.CHECKED_AGAINST == f"django-allauth {allauth.__version__}"
    assert compat_django.CHECKED_AGAINST == f"Django {django.get_version()}"


# --- core.compat.allauth: rate limits on Redis -------------------------------------------------

def rate_limit_windows():
    """{(action, rate): members} of every allauth rate-limit key in Redis; fails on any key that
    is not one of the sliding windows (allauth's own list would be)."""
    client = compat_django.redis_client(caches["default"])
    windows = {}
    for raw in client.scan_iter(match="*allauth:rl:*"):
        key = raw.decode()
        assert key.endswith(":window") and client.type(raw) == b"zset", key
        _prefix, rest = key.split("allauth:rl:", 1)
        _app, action, rate, *_source = rest.split(":")
        windows[(action, rate)] = windows.get((action, rate), 0) + client.zcard(raw)
    return windows


@with_marks(NEEDS_REDIS)
@pytest.mark.django_db
def test_a_sign_in_is_counted_in_the_redis_sliding_windows(no_nudge, tenant, user):
    browser = client_for(tenant)
    assert sign_in(browser, user.email, "not-the-password").status_code == 200
    # allauth's three rates, each one hit, in the windows and nowhere else.
    assert rate_limit_windows() == {
        ("login", "30/60/ip"): 1, ("login_failed", "10/60/ip"): 1,
        ("login_failed", "5/300.0/key"): 1,
    }
    assert sign_in(browser, user.email).status_code == 302
    # A success counts as a sign-in, and its failed-attempt hits are taken back.
    assert rate_limit_windows() == {
        ("login", "30/60/ip"): 2, ("login_failed", "10/60/ip"): 1,
        ("login_failed", "5/300.0/key"): 1,
    }


@with_marks(NEEDS_REDIS)
@pytest.mark.django_db
def test_the_sixth_wrong_password_is_refused_by_the_redis_windows(no_nudge, tenant, user):
    for number in range(5):
        guess = Client(HTTP_HOST="demo.localhost", HTTP_ACCEPT_LANGUAGE="en",
                       REMOTE_ADDR=f"198.51.100.{number + 1}")
        assert RATE_LIMITED not in sign_in(guess, user.email, f"wrong-{number}").text
    late = Client(HTTP_HOST="demo.localhost", HTTP_ACCEPT_LANGUAGE="en", REMOTE_ADDR="198.51.100.9")
    refused = sign_in(late, user.email)
    assert refused.status_code == 200 and RATE_LIMITED in refused.text
    assert "_auth_user_id" not in late.session
    assert rate_limit_windows()[("login_failed", "5/300.0/key")] == 5


# --- core.compat.allauth: the failed sign-in key per account ---------------------------------------

@pytest.mark.django_db
def test_failed_sign_ins_count_per_tenant_whatever_the_host_name(no_nudge, tenant, user):
    TenantHost.objects.create(tenant=tenant, host="login.demo.example", is_primary=False)
    for number in range(5):
        host = ("demo.localhost", "login.demo.example")[number % 2]
        guess = Client(HTTP_HOST=host, HTTP_ACCEPT_LANGUAGE="en", REMOTE_ADDR=f"198.51.100.{number + 1}")
        assert RATE_LIMITED not in sign_in(guess, user.email, f"wrong-{number}").text
    # One count for the tenant: the right password is refused on either host name now...
    other_host = Client(HTTP_HOST="login.demo.example", HTTP_ACCEPT_LANGUAGE="en", REMOTE_ADDR="198.51.100.7")
    assert RATE_LIMITED in sign_in(other_host, user.email).text

    # ...until the failures are forgotten, as a completed reset does.
    request = RequestFactory().post("/accounts/password/reset/", REMOTE_ADDR="198.51.100.8")
    request.tenant = tenant
    compat_allauth.clear_failed_sign_ins(request, email=user.email)
    assert sign_in(client_for(tenant, REMOTE_ADDR="198.51.100.8"), user.email).status_code == 302


# --- Back on public API: the backend is Django's documented one --------------------------------

@pytest.mark.django_db
def test_a_disabled_user_is_told_so_only_with_the_right_password(no_nudge, tenant, make_user, user):
    gone = make_user(tenant, "gone@demo.example", is_active=False)
    browser = client_for(tenant, HTTP_ACCEPT_LANGUAGE="en")
    wrong = sign_in(browser, gone.email, "not-the-password")
    assert wrong.status_code == 200 and "are not correct" in wrong.text
    # As with allauth's own backend: the right password leads to allauth's "inactive" page.
    assert sign_in(browser, gone.email)["Location"] == "/accounts/inactive/"
    assert "_auth_user_id" not in browser.session
    # A user disabled while signed in is signed out at the next request.
    signed_in = client_for(tenant)
    assert sign_in(signed_in, user.email).status_code == 302
    user.is_active = False
    user.save(update_fields=["is_active"])
    assert not signed_in.get("/").wsgi_request.user.is_authenticated


# --- core.compat.allauth: usersessions' record of a sign-in ----------------------------------------

@pytest.mark.django_db(transaction=True)
def test_a_sign_in_is_recorded_with_one_insert(no_nudge, tenant, user):
    browser = client_for(tenant)
    sign_in(browser, user.email)  # an earlier session of the user, which allauth would re-check
    browser = client_for(tenant)
    with CaptureQueriesContext(connection) as captured:
        assert sign_in(browser, user.email).status_code == 302
    assert statements_on("usersessions_usersession", captured.captured_queries) == ["INSERT"]
    assert UserSession.objects.filter(user=user, session_key=browser.session.session_key).exists()


# --- core.compat.allauth: a login stage's state ----------------------------------------------------

@pytest.mark.django_db
def test_a_stage_keeps_what_its_page_remembered(tenant, user):
    # Inside the nudge (allauth's pending sign-in), a page remembers a fact for the rest of it
    # (Registrant.remember, e.g. the authenticator just registered). A request that changes
    # nothing else in the session must still save it, as SessionMiddleware does: only when the
    # session was modified.
    from django.contrib.auth.models import AnonymousUser

    from recovery.registrant import registrant_for

    browser = client_for(tenant)
    assert sign_in(browser, user.email)["Location"] == "/security-info/keep-your-account-secure/"

    def request_of(browser):
        request = RequestFactory().get("/security-info/authenticator/code/")
        request.session = compat_django.SessionStore(browser.session.session_key)
        request.tenant, request.user = tenant, AnonymousUser()
        return request

    request = request_of(browser)
    registrant_for(request).remember("otp_device_id", 42)
    if request.session.modified:
        request.session.save()
    assert registrant_for(request_of(browser)).stage.state["otp_device_id"] == 42


# --- core.compat.allauth: the OpenID Connect provider's internals ----------------------------------

@pytest.fixture
def _oidc_without_nudge(no_nudge, other_tenant):
    other_tenant.policy.nudge_enabled = False
    other_tenant.policy.save()


@pytest.mark.django_db
def test_the_consent_form_names_its_client(_oidc_without_nudge, tenant, other_tenant, user):
    client, _secret = make_client(tenant, skip_consent=False, name="Partner app")
    browser = client_for(tenant)
    page = sign_in_through(browser, authorize_url(client.id), user.email)
    signed = page.context["form"]["request"].value()
    assert compat_allauth.consent_client_id(signed) == client.id
    assert compat_allauth.consent_client_id(signed[:-2] + "xx") is None  # tampered: no client
    # The same consent posted on another tenant's host is refused before allauth sees it.
    foreign = client_for(other_tenant)
    sign_in(foreign, other_tenant_user(other_tenant).email)
    refused = foreign.post("/identity/o/authorize", {"request": signed, "action": "grant",
                                                     "scopes": ["openid"]})
    assert refused.status_code == 400 and "Location" not in refused


def other_tenant_user(other_tenant):
    from accounts.services import provision_user

    return provision_user(tenant=other_tenant, email="jiro@acme.example", password=PASSWORD)


@pytest.mark.django_db
def test_a_token_request_of_another_tenants_client_is_refused(_oidc_without_nudge, tenant, other_tenant):
    import base64

    client, secret = make_client(tenant)
    basic = base64.b64encode(f"{client.id}:{secret}".encode()).decode()
    response = client_for(other_tenant).post(
        "/identity/o/api/token", {"grant_type": "client_credentials"},
        HTTP_AUTHORIZATION=f"Basic {basic}",
    )
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"
    request = RequestFactory().post("/", HTTP_AUTHORIZATION=f"Basic {basic}")
    assert compat_allauth.basic_auth_client_id(request) == client.id


@pytest.mark.django_db
def test_an_authorization_request_without_state_goes_back_to_the_client(_oidc_without_nudge, tenant, user):
    client, _secret = make_client(tenant)
    browser = client_for(tenant)
    sign_in(browser, user.email)
    response = browser.get(authorize_url(client.id, state=""))
    assert response.status_code == 302 and response["Location"].startswith(REDIRECT_URI)
    assert "error=invalid_request" in response["Location"]
    # A redirect URI the client did not register gets the error page, never a redirect.
    elsewhere = browser.get(authorize_url(client.id, state="", redirect_uri="https://evil.example/cb"))
    assert elsewhere.status_code == 400 and "Location" not in elsewhere


@pytest.mark.django_db
def test_a_client_revokes_its_own_token_and_no_other(_oidc_without_nudge, tenant, user):
    from allauth.idp.oidc.models import Token

    from tests.support.oidc import tokens_for

    owner, owner_secret = make_client(tenant, name="Owner")
    other, other_secret = make_client(tenant, name="Other")
    tokens = tokens_for(client_for(tenant), user, owner, owner_secret)
    access = tokens["access_token"]

    def revoke(client, secret):
        return client_for(tenant).post("/identity/o/api/revoke", {
            "token": access, "client_id": client.id, "client_secret": secret})

    assert revoke(other, other_secret).status_code == 200
    assert Token.objects.filter(client=owner, type=Token.Type.ACCESS_TOKEN).by_value(access).exists()
    assert revoke(owner, "wrong-secret").status_code == 401
    assert revoke(owner, owner_secret).status_code == 200
    assert not Token.objects.filter(client=owner, type=Token.Type.ACCESS_TOKEN).by_value(access).exists()


@pytest.mark.django_db
def test_a_tenants_new_key_is_published_under_its_kid(_oidc_without_nudge, tenant):
    from sso.signing_keys import rotate_signing_key

    key = rotate_signing_key(tenant)
    published = client_for(tenant).get("/.well-known/jwks.json").json()["keys"]
    assert key.kid in [jwk["kid"] for jwk in published]
    assert compat_allauth.jwk_kid(key.private_key_pem) == key.kid


# --- core.compat.django ------------------------------------------------------------------------------

@with_marks(NEEDS_REDIS)
def test_the_redis_cache_builds_one_client_for_all_its_calls(monkeypatch):
    cache = caches["default"]
    assert isinstance(cache, compat_django.RedisCache)
    built = []
    real_init = redis.Redis.__init__

    def counting_init(self, *args, **kwargs):
        built.append(self)
        real_init(self, *args, **kwargs)

    cache.set("compat:warm-up", 1)  # the first call builds the client
    monkeypatch.setattr(redis.Redis, "__init__", counting_init)  # counts; the real one runs
    for number in range(20):
        cache.set(f"compat:{number}", number)
        assert cache.get(f"compat:{number}") == number
    assert built == []
    assert compat_django.redis_client(cache) is compat_django.redis_client(cache)


@pytest.mark.django_db(transaction=True)
def test_a_sign_in_writes_its_session_once(no_nudge, tenant, user):
    browser = client_for(tenant)
    assert browser.get("/accounts/login/").status_code == 200
    with CaptureQueriesContext(connection) as captured:
        assert sign_in(browser, user.email).status_code == 302
    # No look-up of the new key, no insert-then-update: one INSERT of the cycled key.
    assert statements_on("django_session", captured.captured_queries) == ["INSERT"]
    assert not any(q["sql"].upper().startswith(("BEGIN", "COMMIT")) for q in captured.captured_queries
                   if "django_session" in q["sql"])
    assert browser.get("/").wsgi_request.user == user


@pytest.mark.django_db
def test_a_session_is_read_from_the_database_while_the_cache_is_down(settings):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.CACHES = {"default": {
        "BACKEND": "core.compat.django.RedisCache", "LOCATION": f"redis://127.0.0.1:{port}/0",
        "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
    }}
    store = compat_django.SessionStore()
    store["step"] = 1
    store.save()  # the database row is written; the cache write is skipped
    # Read back from the database (the cache is a miss), without the write-back failing it.
    assert compat_django.SessionStore(store.session_key).load() == {"step": 1}
    compat_django.SessionStore(store.session_key).delete()
    assert compat_django.SessionStore(store.session_key).load() == {}


def test_the_check_command_runs_allauths_check_less_one_finding():
    # allauth still reports it (else accounts/checks.py no longer matches it)...
    assert UNIQUE_EMAIL_FINDING in [f.msg for f in allauth_checks.settings_check(None)]
    # ...Django's check command, which migrate runs too, does not stop on it.
    call_command("check")
    assert UNIQUE_EMAIL_FINDING not in [f.msg for f in checks.run_checks()]


# --- Nothing outside core/compat patches a library or uses its private API -------------------------

ROOT = Path(__file__).resolve().parents[2]
COMPAT = ROOT / "core" / "compat"
SKIPPED_DIRS = {".venv", "tests", "node_modules", "static", "var", ".git", "__pycache__"}
# Underscore names that are documented API: Model._meta, managers, model state, named tuples.
DOCUMENTED = {"_meta", "_default_manager", "_base_manager", "_state", "_db", "_replace",
              "_asdict", "_fields", "_make"}
# Calls that change a container in place: on an attribute of a library object, a patch.
MUTATORS = {"add", "append", "clear", "discard", "extend", "insert", "pop", "remove", "setdefault"}


def _is_private(name):
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _project_modules(path, root):
    """The top-level names that are the project's: its packages and scripts, and for a script
    outside a package (bench/), the scripts beside it."""
    names = {p.name for p in root.iterdir() if (p / "__init__.py").exists()}
    names |= {p.stem for p in root.glob("*.py")}
    if not (path.parent / "__init__.py").exists():
        names |= {p.stem for p in path.parent.glob("*.py")}
    return names


def _root(node):
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


class _Scanner(ast.NodeVisitor):
    """Collects, for one module: assignments to attributes of library objects, private imports
    and private attributes of library objects, disconnected library signal receivers, and
    methods overriding a library base class's private method."""

    def __init__(self, path, root):
        self.path, self.root, self.found = path, root, []
        self.project = _project_modules(path, root)
        self.library = {}  # local name -> (module, attribute path) of a library object

    def report(self, node, what):
        self.found.append(f"{self.path.relative_to(self.root)}:{node.lineno}: {what}")

    def _external(self, module):
        """A third-party library (the standard library's process state, such as sys.path and
        os.environ, is the scripts' to set), or core.compat's stand-ins for one."""
        top = module.split(".")[0]
        if module.startswith("core.compat"):
            return True
        return top not in self.project and top not in sys.stdlib_module_names

    def visit_Import(self, node):
        for alias in node.names:
            if self._external(alias.name):
                self._check_module(node, alias.name)
                local = alias.asname or alias.name.split(".")[0]
                self.library[local] = (alias.name if alias.asname else local, ())

    def visit_ImportFrom(self, node):
        module = node.module or ""
        if node.level or not self._external(module):
            return
        self._check_module(node, module)
        for alias in node.names:
            if _is_private(alias.name) and not module.startswith("core.compat"):
                self.report(node, f"imports the private name {module}.{alias.name}")
            self.library[alias.asname or alias.name] = (module, (alias.name,))

    def _check_module(self, node, module):
        if module.startswith("core.compat"):
            return
        parts = module.split(".")
        if "internal" in parts or any(_is_private(part) for part in parts):
            self.report(node, f"imports from the private module {module}")

    def _targets(self, node, targets):
        for target in targets:
            for each in ast.walk(target) if isinstance(target, ast.Tuple) else [target]:
                if isinstance(each, ast.Attribute) and _root(each) in self.library:
                    self.report(node, f"assigns {ast.unparse(each)} (an attribute of a library object)")

    def visit_Assign(self, node):
        self._targets(node, node.targets)
        self.generic_visit(node)

    def visit_AugAssign(self, node):
        self._targets(node, [node.target])
        self.generic_visit(node)

    def visit_AnnAssign(self, node):
        self._targets(node, [node.target])
        self.generic_visit(node)

    def visit_Delete(self, node):
        self._targets(node, node.targets)
        self.generic_visit(node)

    def visit_Call(self, node):
        name = node.func.id if isinstance(node.func, ast.Name) else None
        if name in ("setattr", "delattr") and node.args and _root(node.args[0]) in self.library:
            self.report(node, f"{name}() on {ast.unparse(node.args[0])} (a library object)")
        if (isinstance(node.func, ast.Attribute) and node.func.attr == "disconnect"
                and _root(node.func.value) in self.library):
            self.report(node, f"disconnects a receiver from {ast.unparse(node.func.value)}")
        if (isinstance(node.func, ast.Attribute) and node.func.attr in MUTATORS
                and isinstance(node.func.value, ast.Attribute) and _root(node.func.value) in self.library):
            self.report(node, f"changes {ast.unparse(node.func.value)} (an attribute of a library object)")
        self.generic_visit(node)

    def visit_Attribute(self, node):
        if (_is_private(node.attr) and node.attr not in DOCUMENTED
                and _root(node.value) in self.library):
            self.report(node, f"uses the private {ast.unparse(node)} of a library object")
        self.generic_visit(node)

    def _resolve(self, node):
        import importlib

        chain = []
        while isinstance(node, ast.Attribute):
            chain.insert(0, node.attr)
            node = node.value
        if not isinstance(node, ast.Name) or node.id not in self.library:
            return None
        module, names = self.library[node.id]
        try:
            value = importlib.import_module(module)
            for attr in (*names, *chain):
                value = getattr(value, attr)
        except (ImportError, AttributeError):
            return None
        return value if isinstance(value, type) else None

    def visit_ClassDef(self, node):
        bases = [base for base in map(self._resolve, node.bases) if base is not None]
        for item in node.body:
            if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and _is_private(item.name):
                owners = [base.__qualname__ for base in bases if hasattr(base, item.name)]
                if owners:
                    self.report(item, f"overrides the private {owners[0]}.{item.name}")
        self.generic_visit(node)


def library_patches(paths, root=ROOT):
    found = []
    for path in paths:
        scanner = _Scanner(path, root)
        scanner.visit(ast.parse(path.read_text(), str(path)))
        found += scanner.found
    return found


def project_sources():
    for path in sorted(ROOT.rglob("*.py")):
        relative = path.relative_to(ROOT)
        if SKIPPED_DIRS & set(relative.parts) or path.is_relative_to(COMPAT):
            continue
        yield path


def test_no_module_patches_a_library_outside_core_compat():
    assert library_patches(project_sources()) == []


def test_the_scan_finds_each_kind_of_patch(tmp_path):
    # The detector itself, on a module that does each thing once, in a project whose one
    # package is accounts (allauth and django are libraries).
    (tmp_path / "accounts").mkdir()
    (tmp_path / "accounts" / "__init__.py").write_text("")
    sample = tmp_path / "accounts" / "sample.py"
    sample.write_text(
        "from allauth.core.internal import ratelimit\n"
        "from allauth.account.adapter import get_adapter\n"
        "from allauth.account.auth_backends import AuthenticationBackend\n"
        "from allauth.account.signals import user_logged_in\n"
        "from django.contrib.sessions.backends.base import _private_name\n"
        "from django.core.checks.registry import registry\n"
        "from accounts import signals\n"
        "ratelimit.consume = print\n"
        "setattr(ratelimit, 'clear', print)\n"
        "get_adapter(None)._delete_login_attempts_cached_email(None, email='x')\n"
        "user_logged_in.disconnect(receiver=print)\n"
        "registry.registered_checks.discard(print)\n"
        "signals.anything = 1\n"
        "class Backend(AuthenticationBackend):\n"
        "    def _authenticate_by_email(self, email, password):\n"
        "        return None\n"
        "    def _helper_of_our_own(self):\n"
        "        return None\n"
    )
    found = [line.split(": ", 1)[1] for line in library_patches([sample], root=tmp_path)]
    assert found == [
        "imports from the private module allauth.core.internal",
        "imports the private name django.contrib.sessions.backends.base._private_name",
        "assigns ratelimit.consume (an attribute of a library object)",
        "setattr() on ratelimit (a library object)",
        "uses the private get_adapter(None)._delete_login_attempts_cached_email of a library object",
        "disconnects a receiver from user_logged_in",
        "changes registry.registered_checks (an attribute of a library object)",
        "overrides the private AuthenticationBackend._authenticate_by_email",
    ]
