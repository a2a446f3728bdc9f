"""The base of every app's app_settings module (allauth's pattern, allauth/account/app_settings.py).

An app subclasses PrefixedSettings with one property per tunable number, each calling
`self._setting(NAME, default)`, and ends its module with `__getattr__ = module_getattr(instance)`
so that `app_settings.NAME` reads the instance. Values are read when used, not at import, so a
deployment's settings and a test's override both apply.
"""


class PrefixedSettings:
    def __init__(self, prefix):
        self.prefix = prefix

    def _setting(self, name, default, *, prefixed=True):
        from django.conf import settings

        return getattr(settings, (self.prefix if prefixed else "") + name, default)


def module_getattr(instance):
    """A module-level __getattr__ that serves the instance's properties as module attributes."""

    def __getattr__(name):
        return getattr(instance, name)

    return __getattr__
