from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = _("Accounts")

    def ready(self):
        from . import oidc_admin, oidc_views, ratelimit, signals, usersessions  # noqa: F401

        usersessions.install()
        ratelimit.install()

        # After admin autodiscovery (django.contrib.admin is readied first): our client admin
        # replaces allauth's.
        oidc_admin.register()
