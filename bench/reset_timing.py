"""Time the reset's verify step for a real account and for an unknown name (no enumeration).

    DATABASE_URL=... REDIS_URL=... .venv/bin/python bench/reset_timing.py [--tries 200]

Runs the real wizard through Django's test client against a throwaway database (created and
dropped here) and the configured cache, with the production password hasher (Argon2). Every
try is a failed verification, as an attacker's would be. The real account's django-otp throttle
is cleared between tries, outside the timed part, so each try takes the full path (no throttle
short-cut), and the lock threshold is raised so that no lock ends the run. Real and unknown
tries alternate, so drift in the machine's load hits both alike. Prints the median of each
and the interquartile range (the noise the difference is to be compared with).
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
os.environ.setdefault("PORTAL_TESTING", "1")
# Keep this run's counters apart from anything else using the same Redis database.
os.environ["CACHE_KEY_PREFIX"] = "bench-reset-timing"
# Every try is timed on the full check: no back-off refusing it unchecked ("wait"), for the real
# account's device and for the name's counter alike.
os.environ["OTP_TOTP_THROTTLE_FACTOR"] = "0"
os.environ["OTP_SECURITY_QUESTIONS_THROTTLE_FACTOR"] = "0"

import django  # noqa: E402

django.setup()

from tenants.scoping import all_tenants_for_this_script  # noqa: E402

all_tenants_for_this_script()  # the bench seeds and reads every tenant

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import setup_test_environment, teardown_test_environment  # noqa: E402

RESET = "/accounts/password/reset/"
REAL = "real@bench.example"
UNKNOWN = "nobody@bench.example"


def prepare():
    from accounts.services import provision_user
    from recovery import services
    from recovery.models import SecurityQuestion
    from tenants.services import create_tenant

    tenant = create_tenant(slug="bench", name="Bench Inc.", hosts=["bench.localhost"])
    # Locks would end the measurement after five tries, and the address's proof of work would
    # refuse every try after ten unchecked; neither path is what is timed.
    tenant.policy.reset_lock_threshold = 30_000
    tenant.policy.reset_challenge_threshold = 30_000
    tenant.policy.save()
    bank = [
        SecurityQuestion.objects.create(text_ja=f"質問{i}", text_en=f"Question {i}", position=i)
        for i in range(35)
    ]
    user = provision_user(tenant=tenant, email=REAL, password="Bench-password-1234")
    services.register_security_questions(user, {q: f"answer number {i}" for i, q in enumerate(bank[:3])})
    services.confirm_authenticator(services.start_authenticator_setup(user))
    return user


def start(email, method):
    client = Client(HTTP_HOST="bench.localhost")
    client.post(RESET, {"email": email})
    client.post(RESET + "method/", {"method": method})
    page = client.get(RESET + "verify/")
    assert page.status_code == 200, page.status_code
    return client


def time_tries(user, method, tries):
    from recovery import reset

    wrong = (
        {f"answer_{i}": f"wrong answer {i}" for i in (1, 2, 3)}
        if method == "questions"
        else {"code": "000000"}
    )
    clients = {"real": start(REAL, method), "unknown": start(UNKNOWN, method)}
    timings = {"real": [], "unknown": []}
    for _ in range(tries):
        for label, client in clients.items():
            reset.reset_device_throttles(user)
            began = time.perf_counter()
            response = client.post(RESET + "verify/", wrong)
            timings[label].append(time.perf_counter() - began)
            assert response.status_code == 200, (label, response.status_code)
            assert b"data-pow" not in response.content, "refused for a proof of work, not checked"
    return timings


def summary(seconds):
    """Median and interquartile range, in milliseconds: the IQR is the noise to compare with."""
    quartiles = statistics.quantiles([s * 1000 for s in seconds], n=4)
    return statistics.median(seconds) * 1000, quartiles[2] - quartiles[0]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tries", type=int, default=200)
    args = parser.parse_args()

    setup_test_environment()
    settings.DATABASES["default"].setdefault("TEST", {})["NAME"] = (
        None if connection.vendor == "sqlite" else "bench_reset_timing"
    )
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        user = prepare()
        print(f"database {connection.vendor}, cache {settings.CACHES['default']['BACKEND'].rsplit('.', 1)[-1]}, "
              f"hasher {settings.PASSWORD_HASHERS[0].rsplit('.', 1)[-1]}, {args.tries} tries each")
        print(f"{'method':<15}{'real median':>13}{'unknown median':>16}{'difference':>12}"
              f"{'real IQR':>11}{'unknown IQR':>13}")
        for method in ("questions", "authenticator"):
            timings = time_tries(user, method, args.tries)
            real, real_spread = summary(timings["real"])
            unknown, unknown_spread = summary(timings["unknown"])
            print(f"{method:<15}{real:>10.1f} ms{unknown:>13.1f} ms{unknown - real:>+9.1f} ms"
                  f"{real_spread:>8.1f} ms{unknown_spread:>10.1f} ms")
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
        teardown_test_environment()


if __name__ == "__main__":
    main()
