"""Same paths as allauth.idp.urls, mounted before it: the tenant checks of oidc_views run first.

reverse("idp:oidc:...") still gives these paths, so discovery points at the checked views.
"""

from django.urls import path

from . import oidc_views

urlpatterns = [
    path("identity/o/authorize", oidc_views.authorize, name="portal_oidc_authorize"),
    path("identity/o/logout", oidc_views.logout, name="portal_oidc_logout"),
    path("identity/o/api/token", oidc_views.token, name="portal_oidc_token"),
    path("identity/o/api/revoke", oidc_views.revoke, name="portal_oidc_revoke"),
    path("identity/o/device", oidc_views.not_offered),
    path("identity/o/api/device/code", oidc_views.not_offered),
]
