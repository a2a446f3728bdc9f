"""The outbox's tunable numbers, each read from Django settings (OUTBOX_<NAME>) with its default.

allauth's pattern (allauth/account/app_settings.py): `from outbox import app_settings`, then
`app_settings.MAX_ATTEMPTS`. Read when used, not at import, so a deployment's settings and a
test's override both apply. portal/settings.py sets the ones the environment can change.
"""

from datetime import timedelta

from core.app_settings import PrefixedSettings, module_getattr


class AppSettings(PrefixedSettings):
    @property
    def MAX_ATTEMPTS(self):
        """Sending attempts before an e-mail is given up as failed."""
        return self._setting("MAX_ATTEMPTS", 6)

    @property
    def RETRY_BASE_SECONDS(self):
        """Retry n waits BASE * 2**(n-1) seconds, at most RETRY_MAX_SECONDS."""
        return self._setting("RETRY_BASE_SECONDS", 60.0)

    @property
    def RETRY_MAX_SECONDS(self):
        return self._setting("RETRY_MAX_SECONDS", 3600.0)

    @property
    def DELIVERY_BATCH(self):
        """Due rows one delivery task sends over one transaction and SMTP connection."""
        return self._setting("DELIVERY_BATCH", 50)

    @property
    def SWEEP_AFTER_SECONDS(self):
        """The sweeper re-queues pending rows whose attempt is this late."""
        return self._setting("SWEEP_AFTER_SECONDS", 300)

    @property
    def SWEEP_BATCH(self):
        """Rows picked up by one sweep; the next sweep takes the rest."""
        return self._setting("SWEEP_BATCH", 1000)

    @property
    def KICK_TTL_SECONDS(self):
        """A lost delivery task blocks new ones this long at most; the sweeper covers the gap."""
        return self._setting("KICK_TTL_SECONDS", 60)

    @property
    def EARLY_TOLERANCE(self):
        """A retry's task may reach the worker a moment before the row's next_attempt_at (clock
        skew between workers). Kept small: an earlier duplicate must not hammer a refusing server."""
        return timedelta(milliseconds=self._setting("EARLY_TOLERANCE_MS", 200))


_app_settings = AppSettings("OUTBOX_")

__getattr__ = module_getattr(_app_settings)
