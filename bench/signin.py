"""Sign-in throughput against the password-hash bound, and the workers' peak memory.

    .venv/bin/python bench/signin.py [--users 1000] [--seconds 60] [--clients 8]

See bench/README.md for what it measures and the targets.
"""

import argparse
import multiprocessing
import random
import time

import common

KEYCLOAK_PER_VCPU = 15  # Keycloak sizing guide: 15 password sign-ins/s per vCPU
KEYCLOAK_HASH = (
    "Argon2id, 5 iterations, 7 MiB, parallelism 1 (its default since Keycloak 25; the guide's "
    "figure was measured with it); Keycloak 24 defaulted to PBKDF2-SHA512, 210,000 iterations"
)
TARGET_RATIO = 0.85
TARGET_RSS_MB = 150


def _check_until(args):
    encoded, deadline = args
    from django.contrib.auth.hashers import check_password

    done = 0
    cpu_started = time.process_time()  # every thread of the process: Argon2's lanes too
    while time.monotonic() < deadline:
        if not check_password(common.PASSWORD, encoded):
            raise RuntimeError("the reference hash does not verify")
        done += 1
    return done, time.process_time() - cpu_started


def hash_bound(encoded, processes, seconds):
    """(checks per second, CPU seconds per check) with `processes` processes in parallel."""
    from django.db import connections

    connections.close_all()  # no connection may cross the fork
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(processes) as pool:
        started = time.monotonic()
        results = pool.map(_check_until, [(encoded, started + seconds)] * processes)
        elapsed = time.monotonic() - started
    checks = sum(done for done, _cpu in results)
    return checks / elapsed, sum(cpu for _done, cpu in results) / max(checks, 1)


def hasher_description():
    from django.contrib.auth.hashers import get_hasher

    hasher = get_hasher()
    if hasher.algorithm == "argon2":
        return (f"Argon2id, time_cost {hasher.time_cost}, memory {hasher.memory_cost // 1024} MiB, "
                f"parallelism {hasher.parallelism} ({hasher.__class__.__name__})")
    return hasher.__class__.__name__


def give_recovery_methods(users):
    """Registered employees, the steady state: the sign-in completes and lands on the home page.

    Without methods every sign-in would stop at the nudge, before the session is signed in (no
    last-login update, no user-session record, no sign-in audit event): a cheaper, unfinished
    sign-in. `--unregistered` measures that path.
    """
    from django.utils import timezone

    from recovery.models import RecoveryProfile, SecurityQuestionsDevice

    SecurityQuestionsDevice.objects.bulk_create(
        [SecurityQuestionsDevice(user=u, name="questions", confirmed=True) for u in users],
        batch_size=5000)
    RecoveryProfile.objects.bulk_create(
        [RecoveryProfile(user=u, methods_confirmed_at=timezone.now()) for u in users],
        batch_size=5000)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=100,
                        help="of sign-ins, spread over the rounds")
    parser.add_argument("--hash-seconds", type=float, default=40,
                        help="per process count, spread over the rounds")
    parser.add_argument("--rounds", type=int, default=5,
                        help="hash bound and sign-ins alternate; the median round counts")
    parser.add_argument("--clients", type=int, default=4 * common.CORES)
    parser.add_argument("--workers", type=int, default=common.CORES)
    parser.add_argument("--unregistered", action="store_true",
                        help="users without recovery methods: every sign-in ends at the nudge")
    parser.add_argument("--hasher", default="",
                        help="dotted path of a hasher to put first, e.g. "
                             "django.contrib.auth.hashers.Argon2PasswordHasher (default: the portal's)")
    args = parser.parse_args()

    common.say(f"signin bench: {common.load_note()}")
    with common.scratch_database("portal_bench_signin") as db_url:
        env = common.production_env(db_url)
        if args.hasher:
            env["PASSWORD_HASHERS"] = ",".join([
                args.hasher, "django.contrib.auth.hashers.PBKDF2PasswordHasher"])
        common.prepare(env)
        common.setup_django(env)
        from tenants.services import create_tenant

        encoded = common.one_password_hash()
        tenant = create_tenant(slug="demo", name="Demo", hosts=[common.TENANT_HOST])
        emails = [f"user{i}@demo.example" for i in range(args.users)]
        users = common.bulk_users(tenant, emails, encoded)
        if not args.unregistered:
            give_recovery_methods(users)
        common.say(f"seeded {args.users} users "
                    + ("without recovery methods (each sign-in ends at the nudge)"
                       if args.unregistered else "with recovery methods (each lands on home)")
                    + f"; hasher: {hasher_description()}")

        try:
            with common.Gunicorn(env, workers=args.workers) as server:
                rounds = measure_rounds(server, emails, encoded, args)
                peaks = server.peak_rss_mb()
        finally:
            common.flush_cache_prefix(env)
    report(rounds, peaks, args)


def measure_rounds(server, emails, encoded, args):
    """Alternate hash-bound and sign-in slices, so both see the same load on a shared machine.

    As many checking processes as workers is the defined bound; fewer can be faster (Argon2's
    lanes are threads, so two processes oversubscribe two cores): the best of 1..workers is the
    machine's real hash capacity and the stricter denominator.
    """
    finished = []  # every sign-in that ended, in the window or not: the CPU figures' divisor

    def make_state(index):
        return {"rng": random.Random(index)}

    def one_sign_in(state):
        rng = state["rng"]
        # A new visitor each time: own cookies, own address behind the proxy.
        client = common.HttpClient(
            server.port, common.TENANT_HOST,
            forwarded_for=f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}",
        )
        target = common.sign_in(client, rng.choice(emails))
        status, _path, _body = client.follow("GET", target)
        if status != 200:
            raise RuntimeError(f"landing page answered {status}")
        finished.append(1)

    # Warm up each worker (imports, template loading, first connections) before the clock.
    common.run_for(5, args.workers, one_sign_in, make_state)
    rounds = []
    workers = set(server.worker_pids())
    for number in range(1, args.rounds + 1):
        measured = {p: hash_bound(encoded, p, args.hash_seconds / args.rounds)
                    for p in range(1, args.workers + 1)}
        bounds = {p: rate for p, (rate, _cpu) in measured.items()}
        cpu_before = common.cpu_seconds_by_process(workers)
        finished.clear()
        result = common.run_for(args.seconds / args.rounds, args.clients, one_sign_in, make_state,
                                ramp=3)
        cpu_after = common.cpu_seconds_by_process(workers)
        cpu = {role: seconds / max(len(finished), 1)
               for role, seconds in common.cpu_by_role(cpu_before, cpu_after).items()}
        # As many hashing at once as there are workers: what the workers do under load.
        hash_cpu = measured[args.workers][1]
        rounds.append((bounds, result, cpu, hash_cpu))
        completed, errors, _lat, elapsed = result
        common.say(f"round {number}: hash bound " + ", ".join(
            f"{rate:.2f}/s with {p} process(es) ({cpu_per_check * 1000:.0f} ms CPU each)"
            for p, (rate, cpu_per_check) in measured.items())
            + f"; {completed / elapsed:.2f} sign-ins/s, {len(errors)} errors, "
            + f"{sum(cpu.values()) * 1000:.0f} ms CPU each")
    return rounds


def report(rounds, peaks, args):
    completed = sum(r[1][0] for r in rounds)
    errors = [e for r in rounds for e in r[1][1]]
    latencies = [lat for r in rounds for lat in r[1][2]]
    elapsed = sum(r[1][3] for r in rounds)
    rate = completed / elapsed
    # Each round's sign-in rate over the hash bound measured just before it; the median round.
    ratio = common.median([r[1][0] / r[1][3] / max(r[0].values()) for r in rounds])
    ratio_defined = common.median([r[1][0] / r[1][3] / r[0][args.workers] for r in rounds])
    bound = common.median([max(r[0].values()) for r in rounds])
    per_core = rate / common.CORES
    say = common.say
    say("")
    say(f"sign-ins: {completed} in {elapsed:.1f} s with {args.clients} clients, "
        f"{len(errors)} errors" + (f" (first: {errors[0]})" if errors else ""))
    say(f"  sign-ins/s:            {rate:.2f}")
    say(f"  latency p50 / p95:     {common.percentile(latencies, .5) * 1000:.0f} ms / "
        f"{common.percentile(latencies, .95) * 1000:.0f} ms (GET page + POST + landing page)")
    say(f"  sign-ins/s ÷ hash bound with {args.workers} processes: {ratio_defined:.2f}")
    say(f"  sign-ins/s ÷ best hash bound (median {bound:.2f}/s): {ratio:.2f}   "
        f"target ≥ {TARGET_RATIO}: "
        + common.verdict(ratio >= TARGET_RATIO, f"{TARGET_RATIO - ratio:.2f} short"))
    say(f"  per core:              {per_core:.2f} sign-ins/s with {hasher_description()}")
    say(f"  Keycloak sizing guide: {KEYCLOAK_PER_VCPU} sign-ins/s per vCPU with {KEYCLOAK_HASH}")
    roles = {role: common.median([r[2][role] for r in rounds]) * 1000 for role in rounds[0][2]}
    hash_ms = common.median([r[3] for r in rounds]) * 1000
    total = sum(roles.values())
    say(f"  CPU per sign-in:       {total:.1f} ms in all = "
        + ", ".join(f"{role} {ms:.1f}" for role, ms in roles.items()))
    say(f"    one password check:  {hash_ms:.1f} ms (in the web workers' share); everything "
        f"else: {total - hash_ms:.1f} ms")
    worst = max(peaks.values())
    from django.contrib.auth.hashers import get_hasher

    hash_mib = getattr(get_hasher(), "memory_cost", 0) // 1024
    say("  peak RSS per worker:   " + ", ".join(f"{mb:.0f} MB" for mb in peaks.values())
        + f"   target ≤ {TARGET_RSS_MB} MB: "
        + common.verdict(worst <= TARGET_RSS_MB, f"{worst - TARGET_RSS_MB:.0f} MB over"))
    if hash_mib:
        say(f"    of which one password check's Argon2 memory: {hash_mib} MiB "
            f"(≈ {hash_mib * 1.048576:.0f} MB)")
    if errors:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
