"""PostgreSQL restarted under a stream of requests: errors only while it is down, no web node
restart afterwards (health-checked connections), nothing half-written by requests in flight.

The node is a gunicorn process on a private cluster (initdb on a spare port), never the shared one.
"""

import time

import psycopg
import pytest
import requests

from tests.support.faults import Browser, PortalNode, PrivatePostgres, manage

pytestmark = [
    pytest.mark.slow, pytest.mark.postgres,
]
EMAIL, PASSWORD = "hanako@demo.example", "Demo-pass-2026"  # from seed_demo


@pytest.fixture(scope="module")
def cluster():
    server = PrivatePostgres().init().start()
    try:
        manage("migrate", "--no-input", DATABASE_URL=server.url)
        manage("seed_demo", DATABASE_URL=server.url)
        with psycopg.connect(server.url) as connection:  # sign-in itself, not the nudge
            connection.execute("UPDATE tenants_tenantpolicy SET nudge_enabled = false")
        yield server
    finally:
        server.destroy()


@pytest.fixture
def node(cluster):
    # Its own cache (no REDIS_URL): only the database fails here.
    server = PortalNode(DATABASE_URL=cluster.url, REDIS_URL="", DB_CONN_MAX_AGE="60").start()
    yield server
    server.stop()


def _status(browser, node, path):
    try:
        return browser.get(node, path).status_code
    except requests.RequestException:
        return "no answer"


def _counts(cluster):
    with psycopg.connect(cluster.url) as connection:
        return {
            table: connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608
            for table in ("django_session", "accounts_auditevent")
        } | {"last_login": connection.execute(
            "SELECT last_login FROM accounts_user WHERE email = %s", [EMAIL]).fetchone()[0]}


def test_requests_fail_only_while_postgres_is_down_and_recover_without_a_restart(cluster, node):
    signed_in = Browser("demo.localhost")
    assert signed_in.sign_in(node, EMAIL, PASSWORD).status_code == 302
    latecomer = Browser("demo.localhost")
    token = latecomer.csrf_token(node, "/accounts/login/")

    for _ in range(5):  # the node holds a persistent connection now
        assert _status(signed_in, node, "/") == 200
        assert _status(signed_in, node, "/healthz") == 200
    before = _counts(cluster)

    cluster.stop()
    down = [_status(signed_in, node, path) for path in ("/", "/healthz") * 3]
    assert all(status in ("no answer", 503) for status in down), down  # "try again later"
    assert _status(signed_in, node, "/healthz") == 503
    assert _status(Browser("127.0.0.1"), node, "/healthz") == 503  # the load balancer's view
    # A sign-in in flight during the outage fails as a whole.
    during = latecomer.post(node, "/accounts/login/", {"login": EMAIL, "password": PASSWORD}, token=token)
    assert during.status_code == 503 and during.headers["Retry-After"]
    assert "try again" in during.text or "もう一度お試しください" in during.text

    cluster.start()
    deadline = time.monotonic() + 20
    while _status(signed_in, node, "/healthz") != 200:
        assert time.monotonic() < deadline, "the node did not reconnect"
        time.sleep(0.2)
    stream = [_status(signed_in, node, path) for path in ("/", "/healthz") * 5]
    assert stream == [200] * 10  # the same node process, reconnected by itself

    assert _counts(cluster) == before  # no session, audit event or last-login from the outage
    assert "_auth_user_id" not in str(latecomer.http.cookies)
    assert latecomer.get(node, "/").status_code == 302  # still signed out
    assert latecomer.sign_in(node, EMAIL, PASSWORD).status_code == 302
    assert latecomer.get(node, "/").status_code == 200
