from allauth.account import urls as allauth_account_urls
from django.contrib import admin
from django.urls import include, path

from accounts import views as account_views
from core.views import healthz

# allauth's account views we use. Its sign-up, e-mail management and e-mail password reset stay
# unmounted: accounts are made by admins, and allauth's reset looks users up across tenants.
ALLAUTH_VIEWS_USED = {
    "account_login",
    "account_logout",
    "account_inactive",
    "account_reauthenticate",
    "account_change_password",
}
allauth_patterns = [p for p in allauth_account_urls.urlpatterns if p.name in ALLAUTH_VIEWS_USED]

urlpatterns = [
    path("", account_views.home, name="home"),
    path("healthz", healthz, name="healthz"),
    path("accounts/password/reset/", include("recovery.reset_urls")),
    path("accounts/", include(allauth_patterns)),
    path("accounts/", include("accounts.urls")),
    path("security-info/", include("recovery.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("branding/", include("tenants.urls")),
    path("admin/", admin.site.urls),
    # OpenID Connect provider: our tenant checks first, then allauth's endpoints (same paths).
    path("", include("sso.urls")),
    path("", include("allauth.idp.urls")),
]

# A database or Redis outage gives the "try again later" page (503), other errors the 500 page.
handler500 = "portal.views.server_error"
