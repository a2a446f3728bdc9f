"""App configs of the organisation admin: the console app itself (its admin classes, import,
report) and Django's admin app with our site (console.admin_site) as the default admin.site.

Kept apart from console/admin_site.py because an AppConfig module is imported before the models
are ready, and the site imports django-two-factor-auth, which needs them.
"""

from django.apps import AppConfig
from django.contrib.admin.apps import AdminConfig
from django.utils.translation import gettext_lazy as _

# Registered by the libraries we use, but not tenant-scoped: an org admin must never get a
# page that lists every tenant's rows, so only the portal's own scoped admins stay.
UNSCOPED_LIBRARY_ADMINS = (
    "auth.Group",
    "account.EmailAddress",
    "usersessions.UserSession",
    "otp_totp.TOTPDevice",
    "otp_static.StaticDevice",
)


def drop_unscoped_admins(site):
    from django.apps import apps

    for label in UNSCOPED_LIBRARY_ADMINS:
        try:
            model = apps.get_model(label)
        except LookupError:
            continue
        if site.is_registered(model):
            site.unregister(model)


class ConsoleConfig(AppConfig):
    """The organisation admin: it has no models; its admin classes (console.admin) register on
    the models of the apps below it."""

    name = "console"
    verbose_name = _("Organisation administration")


class PortalAdminConfig(AdminConfig):
    """Replaces "django.contrib.admin" in INSTALLED_APPS: our site is the default admin.site."""

    default_site = "console.admin_site.PortalAdminSite"

    def ready(self):
        super().ready()  # autodiscover: console.admin (and the libraries' admins) register here
        from django.contrib import admin

        from .admin import sso

        # After autodiscovery imported allauth's OIDC admin: our client admin replaces it, and
        # the tenant admin gains the signing keys.
        sso.register(admin.site)
        drop_unscoped_admins(admin.site)
