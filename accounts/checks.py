"""allauth's settings check, less the one finding that tenant-scoped sign-in answers.

allauth reports e-mail sign-in with ACCOUNT_UNIQUE_EMAIL=False as a Critical without an id,
which SILENCED_SYSTEM_CHECKS cannot name, so every command that runs the checks (migrate too)
would stop on it. The finding guards against one address matching several users at sign-in;
here an address is unique per tenant (accounts.models.User) and the only backend looks it up in
the request's tenant (accounts.backends). allauth's check runs in its place through a filter
that drops exactly that finding and passes the others on (the swap itself is Django registry
internals: core.compat.django.replace_system_check). allauth's author declined to make the
finding softer for multi-tenant set-ups (pennersr/django-allauth#976; also #2827).
"""

from allauth.account import checks as allauth_checks

from core.compat.django import replace_system_check

UNIQUE_EMAIL_FINDING = "Using email as a login method requires ACCOUNT_UNIQUE_EMAIL"


def allauth_settings_check(app_configs, **kwargs):
    return [
        finding for finding in allauth_checks.settings_check(app_configs, **kwargs)
        if finding.msg != UNIQUE_EMAIL_FINDING
    ]


def install():
    if not replace_system_check(allauth_checks.settings_check, allauth_settings_check):
        raise RuntimeError("allauth's settings check is no longer registered: review "
                           "accounts/checks.py against the installed allauth")
