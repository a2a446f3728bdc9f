from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = _("Accounts")

    def ready(self):
        from . import (  # noqa: F401
            backends,
            checks,
            notifications,
            ratelimit,
            signals,
            usersessions,
        )

        checks.install()
        backends.check_compat()
        usersessions.install()
        ratelimit.install()
        notifications.register_mail_kinds()
