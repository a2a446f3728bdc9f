"""The outbox with the real parts: a Celery worker on Redis, and an SMTP server (aiosmtpd).

The worker runs in a thread of the test process, so it sees the test database; the tests use
transaction=True so that what they write is committed and visible to it.
"""

import shutil
import subprocess
import threading
import time
from contextlib import contextmanager

import pytest
import redis
from celery.contrib.testing.worker import start_worker
from celery.signals import task_postrun
from django.conf import settings as django_settings
from django.db import connections, transaction

from accounts import mail
from accounts.models import OutboxEmail
from accounts.notifications import notify_password_changed, remind_to_register
from accounts.services import provision_user  # no password: no slow hashing per user
from accounts.tasks import deliver_email, sweep_outbox
from portal.celery import app as celery_app

from .conftest import client_for, sign_in
from .smtp_sink import SmtpSink, free_port, html_body, text_body

pytestmark = [
    pytest.mark.redis,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not django_settings.REDIS_URL, reason="needs REDIS_URL"),
]


def _close_worker_connections(**kwargs):
    # Worker threads end with the test; their database connections must not outlive it.
    if threading.current_thread() is not threading.main_thread():
        connections.close_all()
        mail.close_connection()


@contextmanager
def worker(pool="solo", concurrency=1):
    celery_app.control.purge()  # messages left by earlier runs on this Redis database
    task_postrun.connect(_close_worker_connections, weak=False)
    try:
        with start_worker(celery_app, pool=pool, concurrency=concurrency,
                          perform_ping_check=False, shutdown_timeout=30, loglevel="WARNING"):
            yield
    finally:
        task_postrun.disconnect(_close_worker_connections)


@pytest.fixture
def smtp(settings):
    with SmtpSink() as sink:
        for key, value in sink.settings().items():
            setattr(settings, key, value)
        yield sink
    mail.close_connection()


def wait_until(predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


def states():
    return sorted(OutboxEmail.objects.values_list("state", flat=True))


def test_worker_delivers_the_reminder_over_smtp(tenant, user, make_user, smtp):
    john = make_user(tenant, "john@demo.example", language="en", name="John")
    with worker():
        with transaction.atomic():  # the skip's transaction
            remind_to_register(user)
            remind_to_register(john)
        smtp.handler.wait_for(2)
        wait_until(lambda: states() == ["sent", "sent"])
    by_recipient = {tuple(rcpt): message for rcpt, message in smtp.messages}
    ja = by_recipient[(user.email,)]
    assert ja["Subject"].strip() == "本人確認方法の設定を完了してください（Demo Corporation）"
    assert ja["From"].addresses[0].display_name == "Demo Corporation"
    assert "http://demo.localhost/security-info/" in text_body(ja)
    assert 'href="http://demo.localhost/security-info/"' in html_body(ja)
    en = by_recipient[(john.email,)]
    assert en["Subject"].strip() == "Finish setting up your recovery methods (Demo Corporation)"
    assert "Hello John," in text_body(en)


def test_smtp_refusal_is_retried_then_failed_and_no_duplicate_once_smtp_is_back(
    tenant, user, smtp, settings
):
    settings.OUTBOX_MAX_ATTEMPTS = 3
    settings.OUTBOX_RETRY_BASE_SECONDS = 0.5
    smtp.handler.refusal = "451 4.3.0 Mailbox busy, try later"
    with worker():
        row = notify_password_changed(user)
        wait_until(lambda: states() == ["failed"])
        assert smtp.handler.refused == 3
        row.refresh_from_db()
        assert row.attempts == 3 and "451" in row.last_error

        smtp.handler.refusal = None  # back: the failed row is not sent behind the admin's back
        sweep_outbox.delay(0)
        # A temporary refusal: the first attempt is refused, the backoff retry gets through.
        smtp.handler.refusal = "421 4.3.2 Service not available"
        second = notify_password_changed(user)
        wait_until(lambda: smtp.handler.refused == 4)
        smtp.handler.refusal = None
        smtp.handler.wait_for(1)
        wait_until(lambda: states() == ["failed", "sent"])
        deliver_email.delay(second.pk)  # a late duplicate
        sweep_outbox.delay(0)
        time.sleep(1.0)
    assert len(smtp.messages) == 1
    second.refresh_from_db()
    assert second.attempts == 2


def test_the_same_task_delivered_many_times_sends_each_email_once(tenant, make_user, smtp):
    users = [provision_user(tenant=tenant, email=f"u{i}@demo.example") for i in range(12)]
    with worker(pool="threads", concurrency=4):
        rows = [notify_password_changed(u) for u in users]  # one task each, after commit
        for row in rows:  # the broker redelivers every task twice more, concurrently
            deliver_email.delay(row.pk)
            deliver_email.delay(row.pk)
        smtp.handler.wait_for(12)
        wait_until(lambda: states() == ["sent"] * 12)
        time.sleep(1.0)
    assert len(smtp.messages) == 12
    assert sorted(rcpt[0] for rcpt, _m in smtp.messages) == sorted(u.email for u in users)
    assert len({m["X-Outbox-ID"] for _r, m in smtp.messages}) == 12


def test_a_burst_of_skips_is_delivered_once_each_while_the_worker_runs(tenant, make_user, smtp):
    users = [provision_user(tenant=tenant, email=f"burst{i}@demo.example") for i in range(40)]
    with worker(pool="threads", concurrency=2):
        for user in users:  # each skip its own transaction; tasks are coalesced (accounts.mail.kick)
            with transaction.atomic():
                remind_to_register(user)
        smtp.handler.wait_for(40)
        wait_until(lambda: states() == ["sent"] * 40)
        time.sleep(0.5)
    assert sorted(rcpt[0] for rcpt, _m in smtp.messages) == sorted(u.email for u in users)


@contextmanager
def own_redis():
    """A redis-server of our own on a spare port, to stop and start (never the shared one)."""
    port = free_port()
    binary = shutil.which("redis-server") or "redis-server"
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    server = {"proc": None}

    def start():
        server["proc"] = subprocess.Popen(args, stdout=subprocess.DEVNULL)
        client = redis.Redis(host="127.0.0.1", port=port)
        wait_until(lambda: _pings(client), timeout=10)

    def stop():
        server["proc"].terminate()
        server["proc"].wait(10)

    start()
    try:
        yield f"redis://127.0.0.1:{port}/0", start, stop
    finally:
        if server["proc"].poll() is None:
            stop()


def _pings(client):
    try:
        return client.ping()
    except redis.exceptions.ConnectionError:
        return False


@contextmanager
def broker(url):
    previous = celery_app.conf.broker_url
    celery_app.conf.broker_url = url
    celery_app._after_fork()  # drop the connection pools bound to the previous broker
    try:
        yield
    finally:
        celery_app.conf.broker_url = previous
        celery_app._after_fork()


NUDGE_SKIP = "/security-info/keep-your-account-secure/skip/"


def test_broker_outage_loses_nothing_and_the_sweeper_sends_each_once(tenant, make_user, smtp):
    users = [make_user(tenant, f"s{i}@demo.example") for i in range(3)]
    with own_redis() as (url, start, stop), broker(url):
        stop()  # Redis (the broker) is down while the users sign in and skip the nudge
        for user in users:
            client = client_for(tenant)
            assert sign_in(client, user.email)["Location"].startswith("/security-info/")
            began = time.monotonic()
            skipped = client.post(NUDGE_SKIP)
            assert skipped.status_code == 302 and skipped["Location"] == "/"  # no error page
            assert time.monotonic() - began < 3
            assert "_auth_user_id" in client.session
            assert client.get("/").status_code == 200
        assert states() == ["pending"] * 3
        assert not OutboxEmail.objects.exclude(attempts=0).exists()

        start()  # Redis is back; the beat's next sweep re-queues the overdue rows
        with worker():
            sweep_outbox.delay(0)
            smtp.handler.wait_for(3)
            wait_until(lambda: states() == ["sent"] * 3)
            sweep_outbox.delay(0)  # a second sweep finds nothing to send
            time.sleep(1.0)
    assert sorted(rcpt[0] for rcpt, _m in smtp.messages) == sorted(u.email for u in users)
    assert all("本人確認方法" in m["Subject"] for _r, m in smtp.messages)
