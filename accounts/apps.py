from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = _("Accounts")

    def ready(self):
        from . import (  # noqa: F401
            backends,
            checks,
            oidc_admin,
            oidc_views,
            ratelimit,
            signals,
            usersessions,
        )

        checks.install()
        backends.check_compat()
        usersessions.install()
        ratelimit.install()

        # After admin autodiscovery (django.contrib.admin is readied first): our client admin
        # replaces allauth's.
        oidc_admin.register()
