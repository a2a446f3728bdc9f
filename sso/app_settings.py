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

    @property
    def REDEEMED_CODE_KEPT_FOR(self):
        """Seconds a redeemed authorization code is remembered: presented again within this time,
        it revokes the tokens issued from it (RFC 6749 4.1.2). Longer than the code's lifetime."""
        return self._setting("REDEEMED_CODE_KEPT_FOR", 24 * 3600)

    @property
    def ROTATED_REFRESH_TOKEN_KEPT_FOR(self):
        """Seconds a rotated refresh token is remembered (its reuse revokes its family, RFC 9700
        4.14.2) when refresh tokens do not expire; otherwise until it would have expired."""
        return self._setting("ROTATED_REFRESH_TOKEN_KEPT_FOR", 30 * 24 * 3600)

    # --- Back-Channel Logout (sso.backchannel) --------------------------------------------

    @property
    def BACKCHANNEL_ALLOW_PRIVATE_ADDRESSES(self):
        """POST logout tokens to loopback, private, link-local or otherwise non-public addresses.
        Off in production: an application's admin could otherwise make the portal's workers
        reach the internal network (SSRF). Tests and a single-machine demo turn it on."""
        return self._setting("BACKCHANNEL_ALLOW_PRIVATE_ADDRESSES", False)

    @property
    def BACKCHANNEL_TIMEOUT_SECONDS(self):
        """Connect-and-answer limit of one POST to an application."""
        return self._setting("BACKCHANNEL_TIMEOUT_SECONDS", 5.0)

    @property
    def BACKCHANNEL_MAX_ATTEMPTS(self):
        """POSTs before a logout token is given up as failed (the delay between two is the
        outbox's: OUTBOX_RETRY_BASE_SECONDS doubling up to OUTBOX_RETRY_MAX_SECONDS)."""
        return self._setting("BACKCHANNEL_MAX_ATTEMPTS", 6)

    @property
    def BACKCHANNEL_TOKEN_EXPIRES_IN(self):
        """Lifetime (seconds) of a logout token; each attempt signs a fresh one (same jti)."""
        return self._setting("BACKCHANNEL_TOKEN_EXPIRES_IN", 120)


_app_settings = AppSettings("SSO_")

__getattr__ = module_getattr(_app_settings)
