"""E-mail throughput of the outbox: N skipped users, 2 Celery worker processes, an aiosmtpd sink.

    DATABASE_URL=postgres://... REDIS_URL=redis://... .venv/bin/python bench/email_throughput.py [--users N]

Steps: create N users of a throw-away tenant who skipped registration; queue their reminders
(remind_to_register, as the skip does; workers stopped, so the tasks wait in Redis); send the
same rendered messages with plain smtplib on one connection (the baseline); start the workers
and let them drain the outbox. Rates are measured at the sink, first to last message received.
Everything the bench creates is deleted at the end.
"""

import argparse
import multiprocessing
import os
import smtplib
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_sink(port, count, first, last, ready):
    """The SMTP server, in its own process: counts messages and times first and last."""
    import logging

    from aiosmtpd.controller import Controller

    logging.getLogger("mail.log").setLevel(logging.WARNING)

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            now = time.monotonic()
            with count.get_lock():
                if count.value == 0:
                    first.value = now
                count.value += 1
                last.value = now
            return "250 OK"

    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    while True:
        time.sleep(3600)


class Sink:
    def __init__(self):
        self.port = free_port()
        self.count = multiprocessing.Value("i", 0)
        self.first = multiprocessing.Value("d", 0.0)
        self.last = multiprocessing.Value("d", 0.0)
        ready = multiprocessing.Event()
        self.process = multiprocessing.Process(
            target=run_sink, args=(self.port, self.count, self.first, self.last, ready), daemon=True
        )
        self.process.start()
        ready.wait(10)

    def reset(self):
        with self.count.get_lock():
            self.count.value, self.first.value, self.last.value = 0, 0.0, 0.0

    def wait_for(self, n, timeout):
        deadline = time.monotonic() + timeout
        while self.count.value < n and time.monotonic() < deadline:
            time.sleep(0.1)
        return self.count.value

    def rate(self):
        span = self.last.value - self.first.value
        return (self.count.value - 1) / span if span > 0 else float("nan")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--timeout", type=float, default=1800)
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres") or not os.environ.get("REDIS_URL"):
        sys.exit("Set DATABASE_URL (PostgreSQL) and REDIS_URL: the bench measures the real setup.")

    import django

    django.setup()
    from tenants.scoping import all_tenants_for_this_script

    all_tenants_for_this_script()  # the bench seeds and reads every tenant
    from django.db import transaction

    from accounts.models import User
    from outbox import mail
    from outbox.models import OutboxEmail
    from portal.celery import app as celery_app
    from recovery.models import RecoveryProfile
    from recovery.notifications import remind_to_register
    from tenants.services import create_tenant

    sink = Sink()
    slug = f"bench-{uuid.uuid4().hex[:8]}"
    tenant = create_tenant(slug=slug, name="Bench Corporation", hosts=[f"{slug}.localhost"])
    workers = []
    try:
        print(f"creating {args.users} users who skipped registration ...", flush=True)
        users = User.objects.bulk_create(
            [User(tenant=tenant, email=f"user{i}@{slug}.example", name=f"User {i}",
                  language="ja" if i % 2 else "en", password="!") for i in range(args.users)],
            batch_size=2000,
        )
        RecoveryProfile.objects.bulk_create(
            [RecoveryProfile(user=u, skip_count=1) for u in users], batch_size=2000
        )
        celery_app.control.purge()

        began = time.monotonic()
        for user in users:
            user.tenant = tenant
            with transaction.atomic():  # one skip, one transaction, as in the web request
                remind_to_register(user)
        queue_rate = args.users / (time.monotonic() - began)
        rows = list(OutboxEmail.objects.filter(tenant=tenant).select_related("tenant", "user"))
        assert len(rows) == args.users, len(rows)
        print(f"queued {len(rows)} reminders: {queue_rate:,.0f}/s (row + on_commit task)", flush=True)

        # Baseline: the same messages, pre-rendered, with plain smtplib on one connection.
        messages = [(row.to_email, mail.build_message(row).message().as_bytes(linesep="\r\n")) for row in rows]
        with smtplib.SMTP("127.0.0.1", sink.port) as smtp:
            for to_email, raw in messages:
                smtp.sendmail("no-reply@portal.localhost", [to_email], raw)
        sink.wait_for(args.users, 60)
        baseline = sink.rate()
        print(f"plain smtplib, one connection: {baseline:,.0f} e-mails/s", flush=True)
        sink.reset()

        env = {
            **os.environ,
            "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": str(sink.port),
            "EMAIL_USE_TLS": "false",
            "DEBUG": "false",  # as deployed: no per-query debug bookkeeping
        }
        log = open(ROOT / "var" / "bench-workers.log", "w")  # noqa: SIM115 - closed below
        started = time.monotonic()
        for n in range(args.workers):
            workers.append(subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "portal", "worker", "-P", "solo",
                 "-n", f"bench{n}@%h", "-l", "WARNING", "--without-gossip", "--without-mingle",
                 "--without-heartbeat"],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            ))
        received = sink.wait_for(args.users, args.timeout)
        total = time.monotonic() - started
        outbox_rate = sink.rate()
        sent = OutboxEmail.objects.filter(tenant=tenant, state="sent").count()
        print(f"outbox, {args.workers} worker processes: {outbox_rate:,.0f} e-mails/s "
              f"({received} received, {sent} rows sent; {total:.1f} s including worker start)")
        ratio = outbox_rate / baseline
        print(f"ratio to plain smtplib: {ratio:.2f} (target >= 0.5) -> {'OK' if ratio >= 0.5 else 'BELOW TARGET'}")
        time.sleep(1)
        sent = OutboxEmail.objects.filter(tenant=tenant, state="sent").count()
        print(f"after 1 s: {sink.count.value} e-mails received, {sent} rows sent")
        if sink.count.value != args.users:
            print(f"DUPLICATES OR LOSSES: {sink.count.value} received for {args.users} rows")
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(30)
        OutboxEmail.objects.filter(tenant=tenant).delete()
        User.objects.filter(tenant=tenant).delete()
        tenant.delete()
        sink.process.terminate()


if __name__ == "__main__":
    main()
