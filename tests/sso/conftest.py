import os
from urllib.parse import urlsplit

import pytest
from django.conf import settings

from tenants.services import create_tenant
from tests.support.faults import PortalNode, database_url_for
from tests.support.oidc_rp import Browser


def _conformance_tenant():
    tenant = create_tenant(slug="conf", name="Conformance Corp", hosts=["localhost"])
    tenant.policy.nudge_enabled = False  # the registration nudge has its own tests
    tenant.policy.save()
    return tenant


@pytest.fixture
def op(live_server, settings):
    """The portal as OpenID provider on the live server: tenant "conf" on http://localhost:PORT."""
    settings.PLATFORM_HOSTS = ["testserver"]
    port = urlsplit(live_server.url).port
    settings.PORTAL_PUBLIC_PORT = str(port)
    return {"tenant": _conformance_tenant(), "issuer": f"http://localhost:{port}"}


@pytest.fixture
def op_on_gunicorn(transactional_db):
    """The same on the deployed shape: gunicorn with 4 worker processes on PostgreSQL and Redis."""
    if not (os.environ.get("DATABASE_URL", "").startswith("postgres") and os.environ.get("REDIS_URL")):
        pytest.fail("op_on_gunicorn needs DATABASE_URL (PostgreSQL) and REDIS_URL")
    tenant = _conformance_tenant()
    node = PortalNode(
        workers=4, DATABASE_URL=database_url_for(settings.DATABASES["default"]["NAME"]),
        REDIS_URL=os.environ["REDIS_URL"], PLATFORM_HOSTS="testserver",
    )
    node.env["PORTAL_PUBLIC_PORT"] = str(node.port)
    node.start()
    try:
        yield {"tenant": tenant, "issuer": f"http://localhost:{node.port}", "node": node}
    finally:
        node.stop()


@pytest.fixture
def browser():
    session = Browser()
    yield session
    session.close()
