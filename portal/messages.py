"""Django's message storage (a cookie, then the session) under a __Host- cookie name.

CookieStorage's name is fixed ("messages"), and Django deletes a cookie with Secure only when
its name has a __Host-/__Secure- prefix: a consumed message's deletion went out without Secure.
With the prefix the browser also takes the cookie only over HTTPS and for this host alone, so a
sibling tenant host cannot plant one. Production only: browsers refuse __Host- cookies over HTTP.
"""

from django.contrib.messages.storage.cookie import CookieStorage
from django.contrib.messages.storage.fallback import FallbackStorage
from django.contrib.messages.storage.session import SessionStorage


class HostCookieStorage(CookieStorage):
    cookie_name = "__Host-messages"


class HostCookieFallbackStorage(FallbackStorage):
    storage_classes = (HostCookieStorage, SessionStorage)
