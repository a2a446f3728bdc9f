"""allauth's settings check, less the one finding that tenant-scoped sign-in answers.

compat(allauth 65.21, Django's check registry): allauth reports e-mail sign-in with
ACCOUNT_UNIQUE_EMAIL=False as a Critical without an id, which SILENCED_SYSTEM_CHECKS cannot
name, so every command that runs the checks (migrate too) would stop on it. The finding guards
against one address matching several users at sign-in; here an address is unique per tenant
(accounts.models.User) and the only backend looks it up in the request's tenant
(accounts.backends). allauth's check is swapped for one that drops exactly that finding and
passes the others on. tests/attacks/test_cross_tenant_identity.py checks that allauth still
reports it, word for word, and that nothing else is dropped.
"""

from allauth.account import checks as allauth_checks
from django.core import checks
from django.core.checks.registry import registry

UNIQUE_EMAIL_FINDING = "Using email as a login method requires ACCOUNT_UNIQUE_EMAIL"


def allauth_settings_check(app_configs, **kwargs):
    return [
        finding for finding in allauth_checks.settings_check(app_configs, **kwargs)
        if finding.msg != UNIQUE_EMAIL_FINDING
    ]


def install():
    if allauth_checks.settings_check not in registry.registered_checks:
        raise RuntimeError("allauth's settings check changed: review accounts/checks.py against "
                           "the installed allauth")
    registry.registered_checks.discard(allauth_checks.settings_check)
    checks.register(allauth_settings_check)
