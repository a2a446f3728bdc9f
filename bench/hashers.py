"""Alternative hash parameters the sign-in bench can compare (--hasher), not used by the portal.

RFC 9106 section 4 gives two recommended Argon2id settings: t=1, 2 GiB (first) and, for
memory-constrained machines, t=3, 64 MiB, p=4 (second). Django's defaults are t=2, 100 MiB, p=8.
"""

from django.contrib.auth.hashers import Argon2PasswordHasher


class RFC9106SecondArgon2Hasher(Argon2PasswordHasher):
    time_cost = 3
    memory_cost = 64 * 1024  # KiB
    parallelism = 4
