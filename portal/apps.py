"""App configs: the portal's own (the wiring layer) and the admin's, whose site
(portal.admin_site) is the default admin.site.

Kept apart from portal/admin_site.py because an AppConfig module is imported before the models
are ready, and the site imports django-two-factor-auth, which needs them.
"""

from django.apps import AppConfig
from django.contrib.admin.apps import AdminConfig

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


class PortalConfig(AppConfig):
    """The wiring layer as an app, for its management commands (seed_demo); it has no models."""

    name = "portal"


class PortalAdminConfig(AdminConfig):
    """Replaces "django.contrib.admin" in INSTALLED_APPS: our site is the default admin.site."""

    default_site = "portal.admin_site.PortalAdminSite"

    def ready(self):
        super().ready()  # autodiscover: every app's admin.py registers on our site
        from django.contrib import admin

        drop_unscoped_admins(admin.site)
