"""The README's two commands on a new machine: `make run` and `make test` (.ci/serve, .ci/test)."""

import os
import signal
import socket
import subprocess
import sys
import time

import pytest
import redis
import requests

from tests.support.faults import ROOT, PrivateRedis, free_port, portal_env
from tests.support.redis_guard import MARKER_KEY

# A test that needs neither the database nor the network: the inner runs below run it.
INNER_TEST = "tests/portal/test_translations.py::test_placeholders_survive_translation"


@pytest.fixture
def private_redis():
    server = PrivateRedis().start()
    yield server
    server.stop()


def run_suite(redis_url, *args):
    """pytest in a subprocess, on the SQLite default and the given Redis."""
    env = portal_env(REDIS_URL=redis_url, DATABASE_URL=None)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args], cwd=ROOT,
        env=env, capture_output=True, text=True, timeout=300,
    )


@pytest.mark.slow
def test_the_suite_refuses_a_redis_database_it_did_not_write(private_redis):
    operator = redis.Redis.from_url(private_redis.url)
    operator.set("celery-task-meta-1", "an operator's data")
    operator.set(":1:django.contrib.sessions.cache-abc", "a session")

    result = run_suite(private_redis.url, INNER_TEST)

    assert result.returncode == pytest.ExitCode.USAGE_ERROR, result.stdout + result.stderr
    said = result.stdout + result.stderr
    assert "holds 2 key(s) the tests did not write" in said
    assert "REDIS_TEST_URL" in said and "1 passed" not in said
    assert operator.get("celery-task-meta-1") == b"an operator's data"  # nothing emptied
    assert operator.dbsize() == 2


@pytest.mark.slow
def test_the_suite_claims_an_empty_database_and_uses_it_again(private_redis):
    first = run_suite(private_redis.url, INNER_TEST)
    assert first.returncode == 0, first.stdout + first.stderr
    own = redis.Redis.from_url(private_redis.url)
    assert own.exists(MARKER_KEY)
    own.set("left-over-rate-limit", "1")  # what a run leaves behind

    again = run_suite(private_redis.url, INNER_TEST)

    assert again.returncode == 0, again.stdout + again.stderr
    assert not own.exists("left-over-rate-limit")  # emptied: it was the tests' own
    assert own.exists(MARKER_KEY)


def test_make_test_uses_its_own_redis_database_not_redis_url():
    """.ci/test runs the suite on REDIS_TEST_URL (default db 9), whatever REDIS_URL says."""
    script = (ROOT / ".ci/test").read_text()
    env = {"REDIS_URL": "redis://127.0.0.1:6379/0", "PATH": os.environ["PATH"]}
    # The lines that choose the test databases, run on their own in bash.
    chooser = "\n".join(line for line in script.splitlines() if line.startswith("export "))
    shown = subprocess.run(["bash", "-c", chooser + '\necho "$REDIS_TEST_URL"'], env=env,
                           capture_output=True, text=True, check=True).stdout.strip()
    assert shown == "redis://127.0.0.1:6379/9"
    assert 'REDIS_URL="$REDIS_TEST_URL"' in script


def _accepts(address, port):
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((address, port)) == 0


def _serve(tmp_path, **env):
    port = free_port()
    environ = portal_env(PORT=str(port), DATABASE_URL=f"sqlite:///{tmp_path}/portal.sqlite3",
                         REDIS_URL=None, PORTAL_PUBLIC_PORT=None, DEBUG=None, **env)
    process = subprocess.Popen(["bash", ".ci/serve"], cwd=ROOT, env=environ,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               start_new_session=True)
    return process, port


def _stop(process):
    os.killpg(process.pid, signal.SIGTERM)  # runserver and its autoreloader child
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=15)


def _wait_until_up(process, port, address="127.0.0.1", timeout=240):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f".ci/serve ended: {process.stdout.read()}")
        if _accepts(address, port):
            return
        time.sleep(0.5)
    raise AssertionError(".ci/serve did not start")


@pytest.mark.slow
def test_make_run_listens_on_this_machine_only_unless_host_says_otherwise(tmp_path):
    process, port = _serve(tmp_path)
    try:
        _wait_until_up(process, port)
        # Bound to 127.0.0.1: another address of the machine (here 127.0.0.2) gets nothing.
        assert not _accepts("127.0.0.2", port)
        page = requests.get(f"http://127.0.0.1:{port}/accounts/login/",
                            headers={"Host": f"demo.localhost:{port}"}, timeout=30)
        assert page.status_code == 200 and "Demo Corporation" in page.text
    finally:
        _stop(process)
    printed = process.stdout.read()
    assert f"http://demo.localhost:{port}/" in printed  # the demo's links carry the port

    process, port = _serve(tmp_path, HOST="0.0.0.0")  # noqa: S104 - widening is the point
    try:
        _wait_until_up(process, port)
        assert _accepts("127.0.0.2", port)
    finally:
        _stop(process)
