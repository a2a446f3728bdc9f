import os

import pytest
from django.conf import settings
from django.core.cache import cache

from accounts.services import provision_user
from outbox import mail
from portal.celery import app as celery_app
from recovery.models import SecurityQuestion
from tenants.resolution import clear_cache as clear_host_cache
from tenants.scoping import all_tenants
from tenants.services import create_tenant

from .support import redis_guard
from .support.admin import make_rows, verified_client
from .support.clients import PASSWORD, client_for, sign_in  # noqa: F401 - also imported from here
from .support.faults import PortalNode, database_url_for

_redis_marker = redis_guard.Marker("")


def pytest_sessionstart(session):
    """The Redis database the suite empties must be its own (tests/support/redis_guard.py)."""
    global _redis_marker
    url = settings.REDIS_URL
    if not url:
        return
    try:
        redis_guard.claim(url)
    except redis_guard.ForeignRedisDatabase as refusal:
        pytest.exit(str(refusal), returncode=pytest.ExitCode.USAGE_ERROR)
    _redis_marker = redis_guard.Marker(url)


def pytest_sessionfinish(session):
    _redis_marker.mark()  # a test's own cache.clear() may have been the last word


@pytest.fixture(autouse=True)
def _fresh_caches():
    # Rate-limit counters and cached host look-ups must not leak from one test to the next.
    clear_host_cache()
    try:
        cache.clear()
    except Exception:  # noqa: BLE001 - fault tests may run with the cache down
        pass
    _redis_marker.mark()
    yield
    clear_host_cache()


@pytest.fixture(autouse=True)
def _test_code_sees_all_tenants(request):
    """A test's own set-up and checks read every tenant's rows (tenants.scoping.all_tenants).

    What it drives runs in its own scope as in production: a request in its host's (the
    middleware), a task or command in the tenant it enters. The scoping tests themselves
    (marker tenant_scoping) start with no tenant in scope.
    """
    if request.node.get_closest_marker("tenant_scoping"):
        yield
        return
    with all_tenants():
        yield


@pytest.fixture
def make_tenant(db):
    def make(slug, name=None, **policy):
        tenant = create_tenant(slug=slug, name=name or f"{slug.title()} Inc.", hosts=[f"{slug}.localhost"])
        if policy:
            for field, value in policy.items():
                setattr(tenant.policy, field, value)
            tenant.policy.save()
        return tenant

    return make


@pytest.fixture
def tenant(make_tenant):
    return make_tenant("demo", "Demo Corporation")


@pytest.fixture
def no_nudge(tenant):
    """For tests of sign-in itself: the registration nudge (on by default) has its own tests."""
    tenant.policy.nudge_enabled = False
    tenant.policy.save()
    return tenant


@pytest.fixture
def other_tenant(make_tenant):
    return make_tenant("acme", "ACME Ltd.")


@pytest.fixture
def make_user(db):
    def make(tenant, email, password=PASSWORD, **fields):
        return provision_user(tenant=tenant, email=email, password=password, **fields)

    return make


@pytest.fixture
def user(make_user, tenant):
    return make_user(tenant, "hanako@demo.example", name="山田 花子")


@pytest.fixture
def tenant_client(tenant):
    return client_for(tenant)


def _deployed_shape() -> bool:
    return os.environ.get("DATABASE_URL", "").startswith("postgres") and bool(os.environ.get("REDIS_URL"))


@pytest.fixture
def two_nodes(db, request):
    """Two real web nodes (gunicorn) on the test database and the test Redis; a test's
    `node_env` marker adds environment (settings) for them."""
    if not _deployed_shape():
        pytest.fail("two_nodes needs DATABASE_URL (PostgreSQL) and REDIS_URL: mark the test "
                    "with NEEDS_TWO_NODES so the SQLite smoke run deselects it")
    env = {
        "DATABASE_URL": database_url_for(settings.DATABASES["default"]["NAME"]),
        "REDIS_URL": os.environ["REDIS_URL"],
    }
    for marker in request.node.iter_markers("node_env"):
        env.update(marker.kwargs)
    started = []
    try:
        for _ in range(2):
            started.append(PortalNode(**env).start())
        yield started
    finally:
        for node in started:
            node.stop()


# --- Shared by the packages: activate per module with usefixtures, or autouse in a conftest -------

@pytest.fixture
def fast_hashing(settings):
    """Cheap hashes for the accounts and answers a test makes (the suite has a time budget).

    Argon2 stays in the list, so the reset decoys' dummy hash and stored hashes still verify;
    tests/recovery/test_registration.py checks the real slow hasher, bench/reset_timing.py its cost.
    """
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", *settings.PASSWORD_HASHERS]


@pytest.fixture
def eager_tasks():
    """Celery tasks run in the caller (no broker): for tests that look at the e-mails, not the
    queue (tests/outbox/test_outbox_worker.py runs a real worker)."""
    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = eager
    mail.close_connection()


@pytest.fixture
def bank(db):
    """A question bank of eight made here (a flushed database, as on two nodes, has no built-in one)."""
    return [
        SecurityQuestion.objects.create(text_ja=f"質問{i}は?", text_en=f"Question {i}?", position=i)
        for i in range(8)
    ]


@pytest.fixture
def org_admin(make_user, tenant):
    return make_user(tenant, "boss@demo.example", is_staff=True, name="Demo Boss", language="en")


@pytest.fixture
def admin_client(org_admin, tenant):
    """The tenant's organisation admin in the admin site, with an authenticator code entered."""
    return verified_client(org_admin, tenant)


@pytest.fixture
def two_tenants(tenant, other_tenant, make_user, org_admin):
    """One object of every model the admin shows, in each of two tenants (texts say demo / acme)."""
    make_user(tenant, "demo-owner@demo.example", name="demo person")
    make_user(other_tenant, "acme-owner@acme.example", name="acme person")
    return make_rows(tenant, "demo"), make_rows(other_tenant, "acme")
