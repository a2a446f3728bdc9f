from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RecoveryConfig(AppConfig):
    name = "recovery"
    verbose_name = _("Recovery methods")

    def ready(self):
        from . import account_panel, notifications

        notifications.register_mail_kinds()
        account_panel.register()
