from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SsoConfig(AppConfig):
    name = "sso"
    verbose_name = _("Single sign-on (OpenID Connect)")

    def ready(self):
        from . import admin, signals, views  # noqa: F401

        # After admin autodiscovery (django.contrib.admin is readied first): our client admin
        # replaces allauth's, and the tenant admin gains the signing keys.
        admin.register()
