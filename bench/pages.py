"""Requests/s of the portal's pages against a minimal signed-in view, and their SQL queries.

    .venv/bin/python bench/pages.py [--seconds 10] [--clients 4]

Each page is timed right after the baseline (the home page, signed in) on the same gunicorn
server, so the ratio holds on a busy machine. Queries are counted in-process with Django's test
client at two data sizes. See bench/README.md.
"""

import argparse
import json
import logging
import secrets
import time
import urllib.parse
from datetime import timedelta

import common

TARGET_RATIO = 0.5
TARGET_QUERIES = 8
BASELINE = "/"
SECURITY_INFO = "/security-info/"
RESET = "/accounts/password/reset/"
SIGN_IN = "/accounts/login/"
DISCOVERY = "/.well-known/openid-configuration"


def seed(tenant, start, count, encoded):
    """`count` users with recovery methods, and as many without any (nudged at sign-in)."""
    from django.utils import timezone
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from recovery.models import RecoveryProfile

    with_methods = common.bulk_users(
        tenant, [f"m{n}@demo.example" for n in range(start, start + count)], encoded)
    without = common.bulk_users(
        tenant, [f"n{n}@demo.example" for n in range(start, start + count)], encoded)
    TOTPDevice.objects.bulk_create(
        [TOTPDevice(user=u, name="authenticator", confirmed=True) for u in with_methods],
        batch_size=5000)
    RecoveryProfile.objects.bulk_create(
        [RecoveryProfile(user=u, methods_confirmed_at=timezone.now()) for u in with_methods]
        + [RecoveryProfile(user=u, skip_count=1) for u in without], batch_size=5000)


def oidc_token(user):
    """An access token for user, or None when the portal is not an OpenID provider (yet)."""
    from django.apps import apps

    if not apps.is_installed("allauth.idp.oidc"):
        return None
    from allauth.idp.oidc.adapter import get_adapter
    from allauth.idp.oidc.models import Client, Token
    from django.utils import timezone

    try:  # the portal's one way to make a tenant's client, where it exists
        from sso.oidc import register_client

        client, _secret = register_client(tenant=user.tenant, name="bench",
                                          redirect_uris=["https://rp.example/cb"])
    except ImportError:
        client = Client.objects.create(name="bench", redirect_uris="https://rp.example/cb")
    value = secrets.token_urlsafe(32)
    token = Token(type=Token.Type.ACCESS_TOKEN, hash=get_adapter().hash_token(value),
                  client=client, user=user, expires_at=timezone.now() + timedelta(hours=1))
    token.set_scopes(["openid", "email", "profile"])
    token.save()
    return value


def count_queries(user_with_methods, user_without, token):
    """SQL statements per page (transaction control not counted), in-process."""
    from django.contrib.auth.hashers import make_password
    from django.db import connection
    from django.test import Client, override_settings
    from django.test.utils import CaptureQueriesContext

    from accounts.models import User

    def client():
        return Client(HTTP_HOST=common.TENANT_HOST, HTTP_X_FORWARDED_PROTO="https",
                      HTTP_ACCEPT_LANGUAGE="en", HTTP_X_FORWARDED_FOR="10.1.1.1")

    def measure(c, method, path, **extra):
        getattr(c, method)(path, **extra)  # warm: first-use caches are not the steady state
        with CaptureQueriesContext(connection) as queries:
            response = getattr(c, method)(path, **extra)
        return response.status_code, common.statements(queries)

    signed_in = client()
    signed_in.force_login(user_with_methods)
    counts = {
        "home (baseline)": measure(signed_in, "get", BASELINE),
        "sign-in page": measure(client(), "get", SIGN_IN),
        "security info": measure(signed_in, "get", SECURITY_INFO),
        "reset wizard, first step": measure(client(), "get", RESET),
    }
    # The nudge: sign in as a user without methods (fast hasher here: only queries count),
    # then the page the sign-in leads to.
    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        User.objects.filter(pk=user_without.pk).update(password=make_password(common.PASSWORD))
        nudged = client()
        response = nudged.post("/accounts/login/",
                               {"login": user_without.email, "password": common.PASSWORD})
        target = response.get("Location", "")
        if response.status_code == 302 and urllib.parse.urlsplit(target).path != BASELINE:
            counts["nudge page"] = measure(nudged, "get", target)
        else:
            counts["nudge page"] = (404, 0)
        fresh = client()
        fresh.get("/accounts/login/")
        with CaptureQueriesContext(connection) as queries:
            fresh.post("/accounts/login/", {"login": user_without.email,
                                            "password": common.PASSWORD})
        counts["sign-in POST (nudge decision)"] = (302, common.statements(queries))
    if token:
        counts["OIDC userinfo"] = measure(client(), "get", userinfo_path(client()),
                                          HTTP_AUTHORIZATION=f"Bearer {token}")
    else:
        counts["OIDC userinfo"] = (404, 0)
    return counts


def userinfo_path(http_get_client):
    response = http_get_client.get(DISCOVERY)
    if response.status_code != 200:
        return "/oidc/userinfo"
    endpoint = json.loads(response.content).get("userinfo_endpoint", "/oidc/userinfo")
    return urllib.parse.urlsplit(endpoint).path


def throughput(server, users_with, users_without, token, args):
    """Req/s of each page, each right after a baseline run; None when the page is missing."""
    counter = iter(range(1, 10**6))

    def signed_in_state(emails):
        def make(index):
            n = next(counter)
            c = common.HttpClient(server.port, common.TENANT_HOST,
                                  forwarded_for=f"10.2.{n // 250}.{n % 250 + 1}")
            return {"client": c, "target": common.sign_in(c, emails[n % len(emails)])}
        return make

    def anonymous_state(index):
        return {"client": common.HttpClient(server.port, common.TENANT_HOST), "target": None}

    def get(path, headers=None):
        def op(state):
            status, _h, _b = state["client"].request("GET", path or state["target"],
                                                      headers=headers)
            if status != 200:
                raise RuntimeError(f"{path or state['target']} answered {status}")
        return op

    def available(path, headers=None, state=None):
        c = (state or {}).get("client") or common.HttpClient(server.port, common.TENANT_HOST)
        status, _h, _b = c.request("GET", path, headers=headers)
        return status != 404

    def rate(op, make_state):
        done, errors, _lat, elapsed = common.run_for(args.seconds, args.clients, op, make_state,
                                                     ramp=1)
        if errors:
            raise RuntimeError(errors[0])
        return done / elapsed

    probe = common.HttpClient(server.port, common.TENANT_HOST, forwarded_for="10.3.0.1")
    common.sign_in(probe, users_with[0])
    pages = {"sign-in page": (SIGN_IN, None, anonymous_state),
             "security info": (SECURITY_INFO, None, signed_in_state(users_with)),
             "reset wizard, first step": (RESET, None, anonymous_state)}
    probe_nudge = common.HttpClient(server.port, common.TENANT_HOST, forwarded_for="10.3.0.2")
    nudge_target = common.sign_in(probe_nudge, users_without[-1])
    nudge_available = urllib.parse.urlsplit(nudge_target).path != BASELINE
    pages["nudge page"] = (None, None, signed_in_state(users_without))
    userinfo = None
    if token:
        status, _h, body = probe.request("GET", DISCOVERY)
        userinfo = urllib.parse.urlsplit(
            json.loads(body).get("userinfo_endpoint", "/oidc/userinfo") if status == 200
            else "/oidc/userinfo").path
        pages["OIDC userinfo"] = (userinfo, {"Authorization": f"Bearer {token}"}, anonymous_state)

    results = {}
    for name, (path, headers, make_state) in pages.items():
        exists = nudge_available if name == "nudge page" else available(
            path, headers, {"client": probe})
        if not exists:
            results[name] = None
            continue
        base = rate(get(BASELINE), signed_in_state(users_with))
        page = rate(get(path, headers), make_state)
        results[name] = (page, base)
        common.say(f"  {name:<26} {page:7.1f} req/s   baseline {base:7.1f} req/s")
    if "OIDC userinfo" not in pages:
        results["OIDC userinfo"] = None
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, default=2 * common.CORES)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--grow-to", type=int, default=20000,
                        help="users per kind for the second query count")
    args = parser.parse_args()

    common.say(f"pages bench: {common.load_note()}")
    started = time.monotonic()
    with common.scratch_database("portal_bench_pages") as db_url:
        env = common.production_env(db_url)
        common.prepare(env)
        common.setup_django(env)
        logging.getLogger("django.request").setLevel(logging.ERROR)  # expected 404s
        from accounts.models import User
        from tenants.services import create_tenant

        encoded = common.one_password_hash()
        tenant = create_tenant(slug="demo", name="Demo", hosts=[common.TENANT_HOST])
        seed(tenant, 0, args.users, encoded)
        user_with = User.objects.get(email="m0@demo.example")
        user_without = User.objects.get(email=f"n{args.users - 1}@demo.example")
        token = oidc_token(user_with)
        small = count_queries(user_with, user_without, token)
        try:
            with common.Gunicorn(env) as server:
                common.say(f"\nthroughput ({args.clients} clients, {args.seconds:.0f} s each):")
                rates = throughput(
                    server, [f"m{n}@demo.example" for n in range(args.users)],
                    [f"n{n}@demo.example" for n in range(args.users - 1)], token, args)
        finally:
            common.flush_cache_prefix(env)
        seed(tenant, args.users, args.grow_to - args.users, encoded)
        large = count_queries(user_with, User.objects.get(email=f"n{args.grow_to - 1}@demo.example"),
                              token)
    report(rates, small, large, args)
    common.say(f"\nfinished in {time.monotonic() - started:.0f} s")


def report(rates, small, large, args):
    say = common.say
    say(f"\nratio to the baseline (target ≥ {TARGET_RATIO}):")
    for name, measured in rates.items():
        if measured is None:
            say(f"  {name:<30} not available yet")
            continue
        page, base = measured
        ratio = page / base
        say(f"  {name:<30} {ratio:5.2f}  "
            + common.verdict(ratio >= TARGET_RATIO, f"{TARGET_RATIO - ratio:.2f} short"))
    say(f"\nSQL statements per request (target ≤ {TARGET_QUERIES}, same at "
        f"{2 * args.users:,} and {2 * args.grow_to:,} users):")
    for name in small:
        (status, q1), (_s, q2) = small[name], large[name]
        if status == 404:
            say(f"  {name:<30} not available yet")
            continue
        gap = "grows with data" if q1 != q2 else f"{q2 - TARGET_QUERIES} over"
        say(f"  {name:<30} {q1:3d} / {q2:3d}   "
            + common.verdict(q1 == q2 and q2 <= TARGET_QUERIES, gap)
            + ("   (a sign-in writes: session, last login, audit event)"
               if name.startswith("sign-in POST") else ""))


if __name__ == "__main__":
    main()
