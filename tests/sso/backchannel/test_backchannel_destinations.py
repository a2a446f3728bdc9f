"""Where the portal's workers may POST a logout token: an application's admin registers the URI,
so it must not reach the internal network (SSRF) in production."""

import pytest

from sso import backchannel

# Each is refused before any connection is made (nothing listens there in this workplace, and
# none of them is ever connected to).
INTERNAL = [
    "http://localhost:8080/logout",           # a name resolving to loopback
    "http://127.0.0.1/logout",
    "http://[::1]/logout",
    "http://10.1.2.3/logout",                  # private ranges
    "http://192.168.0.10/logout",
    "https://172.16.5.4/logout",
    "http://169.254.169.254/latest/meta-data",  # cloud metadata (link-local)
    "http://100.64.0.1/logout",                # carrier-grade NAT
    "http://[fd00::1]/logout",                 # IPv6 unique local
    "http://[::ffff:127.0.0.1]/logout",        # IPv4-mapped loopback
    "http://0.0.0.0/logout",
]


@pytest.mark.parametrize("uri", INTERNAL)
def test_internal_destinations_are_refused_in_production(uri, settings):
    settings.SSO_BACKCHANNEL_ALLOW_PRIVATE_ADDRESSES = False
    with pytest.raises(backchannel.RefusedDestination):
        backchannel.post(uri, "token")


@pytest.mark.parametrize("uri", ["ftp://teams.example/logout", "file:///etc/passwd", "http:///x"])
def test_only_http_uris_are_posted_to(uri, settings):
    settings.SSO_BACKCHANNEL_ALLOW_PRIVATE_ADDRESSES = True
    with pytest.raises(backchannel.RefusedDestination):
        backchannel.post(uri, "token")


def test_production_refuses_private_addresses_by_default():
    from django.conf import settings

    assert settings.SSO_BACKCHANNEL_ALLOW_PRIVATE_ADDRESSES is False
