from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SsoConfig(AppConfig):
    name = "sso"
    verbose_name = _("Single sign-on (OpenID Connect)")

    def ready(self):
        from . import revocation, signals, views  # noqa: F401

        revocation.install()
