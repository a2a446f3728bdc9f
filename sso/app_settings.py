"""The OpenID Connect provider's tunable numbers, read from Django settings (SSO_<NAME>) with
their defaults.

allauth's pattern (allauth/account/app_settings.py): `from sso import app_settings`, then
`app_settings.SIGNING_KEY_SIZE`. Token and code lifetimes are allauth's own settings
(IDP_OIDC_*_EXPIRES_IN, set in portal/settings.py) and are read through allauth's
allauth.idp.oidc.app_settings, not duplicated here.
"""

from core.app_settings import PrefixedSettings, module_getattr


class AppSettings(PrefixedSettings):
    @property
    def SIGNING_KEY_SIZE(self):
        """RSA modulus of new signing keys (RS256, the only algorithm allauth signs with)."""
        return self._setting("SIGNING_KEY_SIZE", 2048)


_app_settings = AppSettings("SSO_")

__getattr__ = module_getattr(_app_settings)
