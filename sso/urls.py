"""Same paths as allauth.idp.urls, mounted before it: the tenant checks of sso.views run first.

reverse("idp:oidc:...") still gives these paths, so discovery points at the checked views.
"""

from django.urls import path

from . import views

urlpatterns = [
    path("identity/o/authorize", views.authorize, name="portal_oidc_authorize"),
    path("identity/o/logout", views.logout, name="portal_oidc_logout"),
    path("identity/o/api/token", views.token, name="portal_oidc_token"),
    path("identity/o/api/revoke", views.revoke, name="portal_oidc_revoke"),
    path("identity/o/api/introspect", views.introspect, name="portal_oidc_introspect"),
    path("identity/o/device", views.not_offered),
    path("identity/o/api/device/code", views.not_offered),
]
