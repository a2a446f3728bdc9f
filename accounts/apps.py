from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = _("Accounts")

    def ready(self):
        from core.compat import allauth as compat_allauth

        from . import checks, notifications, signals, usersessions  # noqa: F401

        checks.install()
        compat_allauth.install_redis_rate_limits()
        compat_allauth.replace_usersessions_sign_in_receiver(usersessions.record_session)
        usersessions.install()
        notifications.register_mail_kinds()
