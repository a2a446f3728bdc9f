"""The portal's own app config (the wiring layer). The admin's lives in console.apps."""

from django.apps import AppConfig


class PortalConfig(AppConfig):
    """The wiring layer as an app, for its management commands (seed_demo); it has no models."""

    name = "portal"
