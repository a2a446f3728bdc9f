"""The outbox with the real parts: a Celery worker on Redis, and an SMTP server (aiosmtpd).

The worker runs in a thread of the test process, so it sees the test database (the killed-worker
test runs `celery worker` processes on the test database instead); the tests use
transaction=True so that what they write is committed and visible to it.
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from celery.contrib.testing.worker import start_worker
from celery.signals import task_postrun
from django.conf import settings as django_settings
from django.db import connections, transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import User
from accounts.notifications import notify_password_changed
from accounts.services import provision_user  # no password: no slow hashing per user
from outbox import kinds, mail
from outbox.models import OutboxEmail
from outbox.tasks import deliver_email, sweep_outbox
from portal.celery import app as celery_app
from recovery.notifications import remind_to_register
from tests.support.clients import client_for, sign_in
from tests.support.faults import ROOT, database_url_for, portal_env
from tests.support.smtp_sink import SmtpSink, free_port, html_body, text_body

pytestmark = [
    pytest.mark.redis,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
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
        for user in users:  # each skip its own transaction; tasks are coalesced (outbox.mail.kick)
            with transaction.atomic():
                remind_to_register(user)
        smtp.handler.wait_for(40)
        wait_until(lambda: states() == ["sent"] * 40)
        time.sleep(0.5)
    assert sorted(rcpt[0] for rcpt, _m in smtp.messages) == sorted(u.email for u in users)


def test_tasks_queued_under_their_old_names_before_a_deploy_still_deliver(tenant, smtp):
    """Messages in Redis from before the outbox was an app of its own name accounts.tasks.*:
    a worker of the new code runs them (a row queued then is sent, not left to the sweeper)."""
    old_names = [
        ("accounts.tasks.deliver_email", lambda row: [row.pk]),
        ("accounts.tasks.deliver_due", lambda row: []),
        ("accounts.tasks.sweep_outbox", lambda row: [0]),
    ]
    with worker():
        for number, (task_name, args) in enumerate(old_names):
            person = provision_user(tenant=tenant, email=f"old{number}@demo.example")
            # Written as queue() writes it, without the after-commit task of the new code.
            row = OutboxEmail.objects.create(
                tenant=tenant, user=person, to_email=person.email, kind=kinds.REMINDER,
            )
            celery_app.send_task(task_name, args=args(row))
            wait_until(lambda row=row: OutboxEmail.objects.get(pk=row.pk).state == "sent")
        time.sleep(0.5)
    assert [rcpt for rcpt, _m in smtp.messages] == [[f"old{n}@demo.example"] for n in range(3)]


def test_digest_and_nudge_queued_under_their_accounts_names_still_run(tenant, make_user, smtp, settings):
    """Beat ticks in Redis from before the digest and the nudge moved to recovery name
    accounts.tasks.*: a worker of the new code runs them and the e-mails go out."""
    admin = make_user(tenant, "admin@demo.example", is_staff=True, language="en")
    admin.last_login = timezone.now()
    admin.save(update_fields=["last_login"])
    sleeper = make_user(tenant, "sleeper@demo.example", language="en")
    User.objects.filter(pk=sleeper.pk).update(date_joined=timezone.now() - timedelta(days=30))
    settings.NEVER_SIGNED_IN_NUDGE_DAYS = 7
    with worker():
        celery_app.send_task("accounts.tasks.send_admin_digests")
        celery_app.send_task("accounts.tasks.nudge_never_signed_in")
        smtp.handler.wait_for(2)
        wait_until(lambda: states() == ["sent", "sent"])
    subjects = {rcpt[0]: message["Subject"].strip() for rcpt, message in smtp.messages}
    assert subjects == {
        admin.email: "Weekly registration summary for Demo Corporation",
        sleeper.email: "Sign in to Demo Corporation and secure your account",
    }


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


# --- A worker process killed in the middle of sending -----------------------------------------

@contextmanager
def worker_process(sink):
    """`celery -A portal worker` as deployed (prefork), in its own process group, on the test
    database and this Redis database, sending to the sink. Yields the Popen."""
    env = portal_env(
        DATABASE_URL=database_url_for(django_settings.DATABASES["default"]["NAME"]),
        REDIS_URL=django_settings.REDIS_URL,
        EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
        EMAIL_HOST="127.0.0.1", EMAIL_PORT=str(sink.port), EMAIL_USE_TLS="false",
    )
    log = tempfile.TemporaryFile()
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "portal", "worker", "--pool", "prefork",
         "--concurrency", "1", "--without-gossip", "--without-mingle", "-l", "WARNING"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)  # warm shutdown
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        log.close()


def kill_hard(process):
    """What an OOM kill or a lost machine does: every process of the worker, no clean-up."""
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


@pytest.mark.postgres
def test_a_worker_killed_mid_send_is_replaced_and_the_email_arrives_once(tenant, user):
    redis_client = redis.Redis.from_url(django_settings.REDIS_URL)
    celery_app.control.purge()
    with SmtpSink() as sink:
        sink.handler.holding = True  # the server will not answer DATA until we say so
        with worker_process(sink) as first:
            row = notify_password_changed(user)  # committed: the delivery task goes to Redis
            assert sink.handler.held.wait(30), "the worker never reached DATA"
            # Mid-send: the message is in the server's hands, unanswered; the row is claimed
            # in the worker's open transaction, so nothing about it is committed yet.
            row.refresh_from_db()
            assert (row.state, row.attempts) == ("pending", 0)
            kill_hard(first)
        wait_until(lambda: sink.handler.abandoned == 1, timeout=10)
        assert sink.messages == []  # the server never accepted it
        sink.handler.holding = False

        # PostgreSQL rolled the dead worker's transaction back: the row is pending and free.
        wait_until(lambda: _claimable(row.pk), timeout=10)
        row.refresh_from_db()
        assert (row.state, row.attempts, row.sent_at) == ("pending", 0, None)

        with worker_process(sink):
            # The task the dead worker held is unacknowledged; Redis gives it back only after
            # the visibility timeout (an hour). The sweeper does not wait that long: beat runs
            # it every minute and it re-queues rows more than OUTBOX_SWEEP_AFTER_SECONDS late.
            OutboxEmail.objects.filter(pk=row.pk).update(
                next_attempt_at=F("next_attempt_at")
                - timedelta(seconds=django_settings.OUTBOX_SWEEP_AFTER_SECONDS + 1))
            sweep_outbox.delay()
            sink.handler.wait_for(1, timeout=30)
            wait_until(lambda: states() == ["sent"], timeout=10)
            sweep_outbox.delay(0)  # a later sweep and a late duplicate task send nothing more
            deliver_email.delay(row.pk)
            time.sleep(1.0)
    try:
        assert len(sink.messages) == 1
        (recipients, message), = sink.messages
        assert recipients == [user.email] and message["X-Outbox-ID"] == str(row.pk)
        row.refresh_from_db()
        assert row.state == "sent" and row.sent_at is not None and row.attempts == 1
    finally:
        # The dead worker's unacknowledged task would come back in an hour; it is spent.
        redis_client.delete("unacked", "unacked_index")


def _claimable(pk):
    with transaction.atomic():
        return OutboxEmail.objects.select_for_update(nowait=False, skip_locked=True).filter(
            pk=pk).exists()


@pytest.mark.postgres
def test_a_pool_process_killed_mid_send_is_replaced_and_the_email_arrives_once(tenant, user):
    """Only the process sending dies (the worker's main process lives): the task is given back
    at once (acks_late + reject_on_worker_lost), no sweep needed."""
    celery_app.control.purge()
    with SmtpSink() as sink, worker_process(sink) as worker_main:
        sink.handler.holding = True
        row = notify_password_changed(user)
        assert sink.handler.held.wait(30), "the worker never reached DATA"
        children = Path(f"/proc/{worker_main.pid}/task/{worker_main.pid}/children").read_text().split()
        assert len(children) == 1
        os.kill(int(children[0]), signal.SIGKILL)
        wait_until(lambda: sink.handler.abandoned == 1, timeout=10)
        sink.handler.holding = False
        sink.handler.wait_for(1, timeout=30)
        wait_until(lambda: states() == ["sent"], timeout=10)
        time.sleep(1.0)
        assert worker_main.poll() is None
    assert len(sink.messages) == 1 and sink.messages[0][1]["X-Outbox-ID"] == str(row.pk)
    row.refresh_from_db()
    assert row.state == "sent" and row.attempts == 1
