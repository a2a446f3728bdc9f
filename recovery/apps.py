from django.apps import AppConfig
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext_lazy as _

from outbox import kinds


def registration_path(row):
    """Where the reminder e-mail sends the user: the page to register recovery methods."""
    try:
        return reverse("recovery_security_info")
    except NoReverseMatch:  # the registration pages are not mounted in this build
        return "/security-info/"


class RecoveryConfig(AppConfig):
    name = "recovery"
    verbose_name = _("Recovery methods")

    def ready(self):
        kinds.register(kinds.REMINDER, link_path=registration_path)
