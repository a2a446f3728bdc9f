"""The accounts app's tunable numbers, each read from Django settings (ACCOUNTS_<NAME>, plural:
ACCOUNT_* is allauth's) with its default.

allauth's pattern (allauth/account/app_settings.py): `from accounts import app_settings`, then
`app_settings.TOTP_MAX_FAILURES`. Read when used, not at import, so a deployment's settings and
a test's override both apply. Session and sign-in lifetimes are Django's and allauth's own
settings (SESSION_COOKIE_AGE, ACCOUNT_LOGIN_TIMEOUT, ACCOUNT_REAUTHENTICATION_TIMEOUT), set in
portal/settings.py and read through them.
"""

from datetime import timedelta

from core.app_settings import PrefixedSettings, module_getattr


class AppSettings(PrefixedSettings):
    @property
    def TOTP_MAX_FAILURES(self):
        """At most this many wrong authenticator codes per device within TOTP_FAILURE_WINDOW.
        django-otp's own throttle doubles the wait after every failure, which lets anyone lock a
        user out for hours; here old failures are forgotten once the window has passed since
        the last one, so a lock never outlasts it."""
        return self._setting("TOTP_MAX_FAILURES", 10)

    @property
    def TOTP_FAILURE_WINDOW(self):
        return timedelta(seconds=self._setting("TOTP_FAILURE_WINDOW_SECONDS", 15 * 60))

    @property
    def HOME_RECENT_EVENTS(self):
        """How many of the user's own audit events "My account" lists as recent activity."""
        return self._setting("HOME_RECENT_EVENTS", 10)


_app_settings = AppSettings("ACCOUNTS_")

__getattr__ = module_getattr(_app_settings)
