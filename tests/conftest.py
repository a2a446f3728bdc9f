import os

import pytest
from django.conf import settings
from django.core.cache import cache
from django.test import Client

from accounts.services import provision_user
from tenants.resolution import clear_cache as clear_host_cache
from tenants.services import create_tenant

from .faults import PortalNode, database_url_for

PASSWORD = "Correct-horse-42"


@pytest.fixture(autouse=True)
def _fresh_caches():
    # Rate-limit counters and cached host look-ups must not leak from one test to the next.
    clear_host_cache()
    try:
        cache.clear()
    except Exception:  # noqa: BLE001 - fault tests may run with the cache down
        pass
    yield
    clear_host_cache()


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


def client_for(tenant_or_host, **defaults):
    """A test client whose requests go to a tenant's host (or any host name)."""
    host = tenant_or_host if isinstance(tenant_or_host, str) else f"{tenant_or_host.slug}.localhost"
    return Client(HTTP_HOST=host, **defaults)


@pytest.fixture
def tenant_client(tenant):
    return client_for(tenant)


def sign_in(client, email, password=PASSWORD, next_url=None):
    data = {"login": email, "password": password}
    url = "/accounts/login/" + (f"?next={next_url}" if next_url else "")
    return client.post(url, data)


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
