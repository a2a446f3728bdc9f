"""The portal's password hash: Argon2id, 64 MiB and 3 passes (RFC 9106's second recommended
memory and time), one lane.

Django's defaults (t=2, 100 MiB, p=8) cost a web worker about 105 MB of memory per check and
oversubscribe small machines: bench/signin.py measured worker peak 173 → 137 MB with RFC 9106's
t=3, 64 MiB, p=4. Lanes are threads, and the portal already runs one worker per core, so under
load p=4 only made two workers' eight threads take turns on two cores: p=1 gave about the
same checks per second with two processes (16.0 vs 16.6/s), a fifth less p95 latency (975 →
757 ms) and more sign-ins per check (ratio 0.81 → 0.84; bench/README.md).
The lanes add nothing against an attacker, who runs guesses in parallel anyway; memory and
passes set the cost of a guess, and both stay at RFC 9106's values (OWASP's minimum is 19 MiB,
2 passes, 1 lane). Hashes made with other parameters still verify and are re-hashed at the
user's next sign-in.
"""

from django.contrib.auth.hashers import Argon2PasswordHasher


class PortalArgon2Hasher(Argon2PasswordHasher):
    time_cost = 3
    memory_cost = 64 * 1024  # KiB
    parallelism = 1
