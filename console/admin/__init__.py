"""Every admin class of the portal, one module per area; importing them registers them on the
admin site (Django's autodiscovery imports this package)."""

from . import accounts, recovery, sso, tenants  # noqa: F401
