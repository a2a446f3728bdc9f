"""Flat cost from 1,000 to 100,000 users: admin list, report, CSV export, sign-in.

    .venv/bin/python bench/scale.py [--report-url /admin/report/] [--export-url ...]

Grows one PostgreSQL database to 1k, 10k and 100k users over 10 tenants (with recovery
methods, skips and audit events) and times each page in-process at each size.
See bench/README.md.
"""

import argparse
import logging
import random
import time
from datetime import timedelta

import common

TENANTS = 10
STEPS = [1_000, 10_000, 100_000]
REPEATS = 7
TARGET_RATIO = 1.5
TARGET_QUERIES = 8
AUDIT_EVENTS_PER_USER = 3


def seed_tenants():
    from django.contrib.auth.models import Permission

    from recovery.models import SecurityQuestion
    from tenants.services import create_tenant

    tenants = [
        create_tenant(slug=f"t{i}", name=f"Tenant {i}",
                      hosts=[common.TENANT_HOST if i == 0 else f"t{i}.localhost"])
        for i in range(TENANTS)
    ]
    if not SecurityQuestion.objects.filter(tenant=None).exists():
        SecurityQuestion.objects.bulk_create(
            SecurityQuestion(text_ja=f"質問 {n}", text_en=f"Question {n}", position=n)
            for n in range(6)
        )
    admin = common.bulk_users(tenants[0], ["admin@t0.example"], common.one_password_hash(),
                              is_staff=True)[0]
    # Whatever the admin site needs an organisation admin to hold: view/change of the
    # accounts and recovery models (harmless if the admin grants them another way).
    admin.user_permissions.set(
        Permission.objects.filter(content_type__app_label__in=["accounts", "recovery"])
    )
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.create(user=admin, name="bench", confirmed=True)
    return tenants, admin, device


def grow(tenants, start, stop, encoded, answer_hash):
    """Users start..stop-1 spread over the tenants, each with methods or a skip, and events."""
    from allauth.usersessions.models import UserSession
    from django.contrib.sessions.models import Session
    from django.db import connection
    from django.utils import timezone
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from recovery.models import (
        RecoveryProfile,
        SecurityAnswer,
        SecurityQuestion,
        SecurityQuestionsDevice,
    )

    questions = list(SecurityQuestion.objects.filter(tenant=None).values_list("id", flat=True))
    now = timezone.now()
    rng = random.Random(start)
    per_tenant = (stop - start) // len(tenants)
    for t_index, tenant in enumerate(tenants):
        emails = [f"u{n}@t{t_index}.example"
                  for n in range(start // len(tenants), start // len(tenants) + per_tenant)]
        users = common.bulk_users(tenant, emails, encoded)
        q_devices, totp, profiles = [], [], []
        for n, user in enumerate(users):
            kind = n % 10
            if kind < 6:  # 60 % security questions, 30 % also / only an authenticator
                q_devices.append(SecurityQuestionsDevice(user=user, name="questions",
                                                         confirmed=True))
            if 4 <= kind < 7:
                totp.append(TOTPDevice(user=user, name="authenticator", confirmed=True))
            if kind >= 7:  # 30 % have nothing: some skipped the nudge
                profiles.append(RecoveryProfile(
                    user=user, skip_count=rng.randrange(0, 4),
                    last_skipped_at=now - timedelta(days=rng.randrange(30)),
                ))
            else:
                profiles.append(RecoveryProfile(
                    user=user, methods_confirmed_at=now - timedelta(days=rng.randrange(400))))
        SecurityQuestionsDevice.objects.bulk_create(q_devices, batch_size=5000)
        TOTPDevice.objects.bulk_create(totp, batch_size=5000)
        # Half the users are signed in somewhere: the platform's live sessions grow with it.
        signed_in = users[::2]
        Session.objects.bulk_create(
            (Session(session_key=f"bench{user.pk:027d}", session_data="",
                     expire_date=now + timedelta(hours=12)) for user in signed_in),
            batch_size=5000)
        UserSession.objects.bulk_create(
            (UserSession(user=user, session_key=f"bench{user.pk:027d}", ip="10.0.0.1",
                         user_agent="bench") for user in signed_in),
            batch_size=5000)
        RecoveryProfile.objects.bulk_create(profiles, batch_size=5000)
        SecurityAnswer.objects.bulk_create(
            (SecurityAnswer(device=d, question_id=q, answer_hash=answer_hash)
             for d in q_devices for q in questions[:3]),
            batch_size=5000,
        )
        with connection.cursor() as cursor, cursor.cursor.copy(
            "COPY accounts_auditevent (tenant_id, user_id, kind, created_at, user_agent, data) "
            "FROM STDIN"
        ) as copy:
            for user in users:
                for e in range(AUDIT_EVENTS_PER_USER):
                    kind = ("signin.succeeded", "method.registered", "nudge.skipped")[e]
                    copy.write_row((tenant.id, user.id, kind,
                                    now - timedelta(minutes=rng.randrange(60 * 24 * 90)),
                                    "bench", "{}"))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def admin_client(admin, device):
    from django.test import Client
    from django_otp import DEVICE_ID_SESSION_KEY

    client = Client(HTTP_HOST=common.TENANT_HOST, HTTP_X_FORWARDED_PROTO="https",
                    HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(admin)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id  # a verified (OTP) admin session
    session.save()
    return client


def timed(call):
    started = time.perf_counter()
    response = call()
    if hasattr(response, "streaming_content"):
        b"".join(response.streaming_content)
    return time.perf_counter() - started, response


def time_get(client, url, baseline):
    """(median seconds, median seconds ÷ baseline, queries, status) of REPEATS GETs of url.

    Each GET follows a baseline request (the signed-in home page): on a shared machine the
    quotient of the two keeps its meaning while the absolute time swings with the load.
    """
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    baseline()  # the host look-up is cached for a while: counted queries then do not swing
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
        if hasattr(response, "streaming_content"):
            b"".join(response.streaming_content)
    # Counted now: every request starts by clearing the connection's query log.
    statements = common.statements(queries)
    if SHOW_SQL:
        show_sql(queries)
    if response.status_code != 200:
        return None, None, statements, response.status_code
    if response.get("Content-Type", "").startswith("text/csv"):
        content = (b"".join(response.streaming_content) if hasattr(response, "streaming_content")
                   else response.content)
        ROWS[url] = content.count(b"\n") - 1  # less the header line
    times, relative = [], []
    for _ in range(REPEATS):
        base, _r = timed(baseline)
        seconds, response = timed(lambda: client.get(url))
        times.append(seconds)
        relative.append(seconds / base)
    return common.median(times), common.median(relative), statements, response.status_code


SHOW_SQL = False
ROWS = {}  # url → data rows of its CSV answer at the current size


def show_sql(queries):
    for query in queries.captured_queries:
        common.say(f"    [{query['time']} s] {query['sql'][:400]}")


NUDGE_PATH = "/security-info/keep-your-account-secure/"


def time_sign_in(tenant, baseline, registered):
    """Median seconds and queries of a sign-in POST: registered=False, a user with no methods
    (the nudge decision, which stops the sign-in at the nudge); True, a user with methods (the
    sign-in completes: last login, audit event, the session record against the platform's
    live sessions).

    The user's password is stored with a fast hasher for this measurement only, so the time is
    the cost of everything around the hash (tenant check, stages, nudge decision, session).
    """
    from django.contrib.auth.hashers import make_password
    from django.db import connection
    from django.test import Client, override_settings
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from accounts.models import User
    from recovery.models import RecoveryProfile

    # A different user each time: each sign-in's session stays live, and the sign-in looks at
    # the user's live sessions, so signing one user in again and again would measure that.
    users = User.objects.filter(tenant=tenant, is_staff=False)
    if registered:  # with methods, no code step (the password alone), signed in on another
        # device (the record of live sessions is looked at)
        users = users.filter(recovery__methods_confirmed_at__isnull=False,
                             usersession__isnull=False).exclude(totpdevice__confirmed=True)
    else:
        users = users.filter(recovery__methods_confirmed_at=None)
    users = list(users.distinct().order_by("-id")[:REPEATS + 1])
    if registered:  # confirmed lately: no re-confirm prompt
        RecoveryProfile.objects.filter(user__in=users).update(methods_confirmed_at=timezone.now())
    times, relative, counts, statuses = [], [], [], set()
    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        User.objects.filter(pk__in=[u.pk for u in users]).update(
            password=make_password(common.PASSWORD))
        for attempt, user in enumerate(users):
            client = Client(HTTP_HOST=common.TENANT_HOST, HTTP_X_FORWARDED_PROTO="https",
                            HTTP_X_FORWARDED_FOR=f"10.9.{attempt}.1")
            base, _r = timed(baseline)
            with CaptureQueriesContext(connection) as queries:
                elapsed, response = timed(lambda: client.post(
                    "/accounts/login/", {"login": user.email, "password": common.PASSWORD}))
            statuses.add(response.status_code)
            if attempt:  # the first one warms up
                times.append(elapsed)
                relative.append(elapsed / base)
                counts.append(common.statements(queries))
    if SHOW_SQL:
        show_sql(queries)
    landing = "/" if registered else NUDGE_PATH
    if statuses != {302} or response["Location"] != landing:
        return None, None, max(counts), f"{statuses}, to {response.get('Location')}"
    return common.median(times), common.median(relative), max(counts), response["Location"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--user-list-url", default="/admin/accounts/user/")
    parser.add_argument("--report-url", default="/admin/report/",
                        help="the admin report page (decided by the admin)")
    parser.add_argument("--export-url", default="/admin/accounts/user/export/",
                        help="a GET that answers one tenant's users as CSV")
    parser.add_argument("--keep", action="store_true", help="keep the database (debugging)")
    parser.add_argument("--show-sql", action="store_true",
                        help="print the SQL of each page and of the last sign-in at each size")
    args = parser.parse_args()
    global SHOW_SQL
    SHOW_SQL = args.show_sql

    common.say(f"scale bench: {common.load_note()}")
    started = time.monotonic()
    results, per_row = {}, {}
    with common.scratch_database("portal_bench_scale") as db_url:
        env = common.production_env(db_url)
        common.prepare(env)
        common.setup_django(env)
        logging.getLogger("django.request").setLevel(logging.ERROR)  # pages not built yet: 404
        from django.contrib.auth.hashers import make_password

        encoded = common.one_password_hash()
        answer_hash = make_password("bench answer")
        tenants, admin, device = seed_tenants()
        size = 0
        try:
            for step in STEPS:
                grow_started = time.monotonic()
                grow(tenants, size, step, encoded, answer_hash)
                size = step
                common.say(f"\n{size:,} users ({time.monotonic() - grow_started:.0f} s to grow)")
                client = admin_client(admin, device)
                home = admin_client(admin, device)

                def baseline(home=home):
                    return home.get("/")

                fresh_report = args.report_url + ("&" if "?" in args.report_url else "?") + "refresh=1"
                results[step] = {
                    "admin user list": time_get(client, args.user_list_url, baseline),
                    # Recounted first: it refreshes the minute's cache the plain GET then reads.
                    "admin report, recounted": time_get(client, fresh_report, baseline),
                    "admin report": time_get(client, args.report_url, baseline),
                    "CSV export (one tenant)": time_get(client, args.export_url, baseline),
                    "sign-in with nudge (no methods)": time_sign_in(tenants[0], baseline, False),
                    "sign-in completed (with methods)": time_sign_in(tenants[0], baseline, True),
                }
                for name, (seconds, relative, queries, status) in results[step].items():
                    shown = (f"{seconds * 1000:8.1f} ms = {relative:6.2f} × home page"
                             if seconds else f"not available ({status})")
                    common.say(f"  {name:<34} {shown}   {queries} queries")
                rows = ROWS.get(args.export_url)
                export_time = results[step]["CSV export (one tenant)"][0]
                if rows and export_time:
                    per_row[step] = (export_time / rows, results[step]["CSV export (one tenant)"][1] / rows)
                    common.say(f"  {'CSV export, per row':<34} {export_time / rows * 1e6:8.1f} µs "
                               f"({rows:,} rows)")
        finally:
            common.flush_cache_prefix(env)
            if args.keep:
                input("database kept until you press Enter")
    report(results, per_row)
    common.say(f"\nfinished in {time.monotonic() - started:.0f} s")


def report(results, per_row):
    first, last = results[STEPS[0]], results[STEPS[-1]]
    common.say(f"\n{STEPS[-1] // 1000}k ÷ {STEPS[0] // 1000}k, each time relative to the home "
               f"page timed beside it (target ≤ {TARGET_RATIO}); raw ratio in brackets; "
               f"queries (target ≤ {TARGET_QUERIES}, same at every size):")
    for name in first:
        (t1, r1, _q1, _s1), (t2, r2, q2, s2) = first[name], last[name]
        counts = "/".join(str(results[s][name][2]) for s in STEPS)
        if not (t1 and t2):
            common.say(f"  {name:<34} not available ({s2}); queries {counts}")
            continue
        ratio = r2 / r1
        flat = len({results[s][name][2] for s in STEPS}) == 1
        common.say(
            f"  {name:<34} {ratio:5.2f} ({t2 / t1:.2f})  "
            + common.verdict(ratio <= TARGET_RATIO, f"{ratio - TARGET_RATIO:.2f} over")
            + f"   queries {counts}: "
            + common.verdict(flat and q2 <= TARGET_QUERIES,
                             "grows with data" if not flat else f"{q2 - TARGET_QUERIES} over")
        )
    if STEPS[0] in per_row and STEPS[-1] in per_row:
        # Tenant 0 holds 1/10 of the users: its export has 100× the rows at 100k, so the total
        # cannot be flat; the cost of each row can.
        (s1, r1), (s2, r2) = per_row[STEPS[0]], per_row[STEPS[-1]]
        ratio = r2 / r1
        common.say(
            f"  {'CSV export, per row':<34} {ratio:5.2f} ({s2 / s1:.2f})  "
            + common.verdict(ratio <= TARGET_RATIO, f"{ratio - TARGET_RATIO:.2f} over")
            + f"   {s1 * 1e6:.1f} → {s2 * 1e6:.1f} µs per row"
        )


if __name__ == "__main__":
    main()

