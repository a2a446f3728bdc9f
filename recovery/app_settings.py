"""Recovery's tunable numbers, each read from Django settings (RECOVERY_<NAME>) with its default.

allauth's pattern (allauth/account/app_settings.py): `from recovery import app_settings`, then
`app_settings.RESET_FAILURE_WINDOW`. Read when used, not at import, so a deployment's settings
and a test's override both apply. portal/settings.py sets the ones the environment can change.
Numbers each tenant chooses (lock threshold and length, reminder interval, re-confirm days)
are the tenant's policy (tenants.models.TenantPolicy), not settings.
"""

from datetime import timedelta

from core.app_settings import PrefixedSettings, module_getattr


class AppSettings(PrefixedSettings):
    @property
    def NEVER_SIGNED_IN_NUDGE_DAYS(self):
        """E-mail employees who never signed in every N days (0: off). Its name predates the
        prefix (environment NEVER_SIGNED_IN_NUDGE_DAYS), so it keeps it."""
        return self._setting("NEVER_SIGNED_IN_NUDGE_DAYS", 0, prefixed=False)

    @property
    def DIGEST_PERIOD(self):
        """The weeks' events the admin digest counts (it is sent weekly by beat)."""
        return timedelta(days=self._setting("DIGEST_PERIOD_DAYS", 7))

    @property
    def RESET_STATE_LIFETIME(self):
        """A password reset started longer ago than this starts again."""
        return timedelta(seconds=self._setting("RESET_STATE_LIFETIME_SECONDS", 15 * 60))

    @property
    def RESET_FAILURE_WINDOW(self):
        """Failed reset verifications count towards the lock within this window."""
        return timedelta(seconds=self._setting("RESET_FAILURE_WINDOW_SECONDS", 60 * 60))

    @property
    def RESET_CHALLENGE_MAX_NUMBER(self):
        """The proof of work's size (ALTCHA's maxNumber): a browser tries on average half this
        many SHA-256 hashes before its try is taken (≈ 1 s on a phone at 100,000). Asked for
        once a client address has failed the policy's reset_challenge_threshold times."""
        return self._setting("RESET_CHALLENGE_MAX_NUMBER", 100_000)

    @property
    def RESET_CHALLENGE_LIFETIME(self):
        """A proof-of-work challenge must be solved and sent within this; each is good for one try."""
        return timedelta(seconds=self._setting("RESET_CHALLENGE_LIFETIME_SECONDS", 10 * 60))

    @property
    def RESET_CHALLENGE_HMAC_KEY(self):
        """The key that signs the proof-of-work challenges (the same on every web node).
        Derived from SECRET_KEY unless RECOVERY_RESET_CHALLENGE_HMAC_KEY is set."""
        key = self._setting("RESET_CHALLENGE_HMAC_KEY", "")
        if key:
            return key
        from django.utils.crypto import salted_hmac

        return salted_hmac("recovery.reset.challenge", "hmac-key", algorithm="sha256").hexdigest()

    @property
    def RESET_COUNTER_LOCK_WAIT_MS(self):
        """How long a try waits for a counter row another request holds (it holds it for a few
        statements)."""
        return self._setting("RESET_COUNTER_LOCK_WAIT_MS", 2000)

    @property
    def SETUP_MAX_FAILURES(self):
        """The failed codes after which an authenticator setup starts again with a new secret."""
        return self._setting("SETUP_MAX_FAILURES", 5)

    @property
    def SETUP_TIMEOUT_SECONDS(self):
        """An unfinished authenticator setup is dropped after this (the sign-in itself lasts 15 min)."""
        return self._setting("SETUP_TIMEOUT_SECONDS", 15 * 60)

    @property
    def RECOVERY_CODES_COUNT(self):
        """How many single-use recovery codes a set has."""
        return self._setting("RECOVERY_CODES_COUNT", 10)

    @property
    def RECOVERY_CODES_LOW(self):
        """With this many codes left (or fewer) the security-info page asks for a new set and the
        user gets an e-mail (once per set)."""
        return self._setting("RECOVERY_CODES_LOW", 2)

    @property
    def REPORT_DAYS(self):
        """The admin report's resets and locks cover this many days."""
        return self._setting("REPORT_DAYS", 30)

    @property
    def REPORT_WEEKS(self):
        """The weeks the report's "registration over time" chart and table cover."""
        return self._setting("REPORT_WEEKS", 12)

    @property
    def REPORT_CACHE_SECONDS(self):
        """The report's numbers aggregate the whole tenant (linear in its size): computed at most
        this often per tenant unless the admin asks for fresh ones (bench/scale.py)."""
        return self._setting("REPORT_CACHE_SECONDS", 60)


_app_settings = AppSettings("RECOVERY_")

__getattr__ = module_getattr(_app_settings)
