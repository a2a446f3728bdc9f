"""The tenants app's tunable numbers, each read from Django settings (TENANTS_<NAME>) with its default.

allauth's pattern (core/app_settings.py). What each tenant chooses for itself (lock threshold and
length, reminders, password length, the methods it offers) is its policy
(tenants.models.TenantPolicy): the model fields' defaults are the defaults of a new tenant, and
org admins change them in the admin.
"""

from core.app_settings import PrefixedSettings, module_getattr


class AppSettings(PrefixedSettings):
    @property
    def HOST_CACHE_SECONDS(self):
        """How long a web node keeps a host's tenant in memory. Saving a tenant, host or policy
        clears the saving node's copy at once; the other nodes see the change within this time."""
        return self._setting("HOST_CACHE_SECONDS", 30)

    @property
    def LOGO_MAX_BYTES(self):
        """The largest logo file an org admin may upload."""
        return self._setting("LOGO_MAX_BYTES", 512 * 1024)

    @property
    def LOGO_MAX_PIXELS(self):
        """The largest picture decoded (2,000 × 2,000): more is a decompression bomb."""
        return self._setting("LOGO_MAX_PIXELS", 2000 * 2000)

    @property
    def LOGO_BOX(self):
        """The logo is scaled down to fit this (width, height) when uploaded."""
        return tuple(self._setting("LOGO_BOX", (480, 160)))


_app_settings = AppSettings("TENANTS_")

__getattr__ = module_getattr(_app_settings)
