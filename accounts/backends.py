from allauth.account import app_settings
from allauth.account.auth_backends import AuthenticationBackend
from django.contrib.auth import get_user_model


def user_belongs_to_request(user, request) -> bool:
    """A tenant's user signs in on that tenant's host only; superusers on the platform host only."""
    tenant = getattr(request, "tenant", None) if request is not None else None
    if tenant is None:
        return user.tenant_id is None and user.is_superuser
    return user.tenant_id == tenant.id


def users_of_request(request):
    """The users who may sign in on the request's host (see user_belongs_to_request)."""
    users = get_user_model()._default_manager
    tenant = getattr(request, "tenant", None) if request is not None else None
    if tenant is None:
        return users.filter(tenant__isnull=True, is_superuser=True)
    return users.filter(tenant=tenant)


class TenantAuthenticationBackend(AuthenticationBackend):
    """allauth's backend, looking the address up among the request's tenant's users only.

    The same address may be a user in each of several tenants: only this host's user is looked
    up and only their password is checked, never another tenant's. An address with no user here
    costs one hash like a wrong password (allauth's timing mitigation) and gets the
    wrong-password answer, counted by allauth's failed-attempt limit like one.
    """

    def authenticate(self, request, **credentials):
        # django.contrib.auth makes a backend instance per authenticate() call, so the request's
        # users can wait on it for the look-up below.
        self._users_of_request = users_of_request(request)
        user = super().authenticate(request, **credentials)
        # Refused here too should a look-up other than the one below ever find a user.
        if user is None or not user_belongs_to_request(user, request):
            return None
        return user

    # compat(allauth 65.21, private method): allauth's _authenticate() looks the address up here
    # across all users (account.internal.userkit.filter_users_by_email) and tries the password
    # on each user found; there is no documented hook for that look-up. check_compat() stops
    # start-up should allauth stop calling it;
    # tests/attacks/test_cross_tenant_identity.py::test_another_tenants_password_is_never_tried_here
    # exercises it.
    def _authenticate_by_email(self, email, password):
        if not email or app_settings.LoginMethod.EMAIL not in app_settings.LOGIN_METHODS:
            return None
        user = self._users_of_request.filter(email=email.lower()).first()
        return self._check_password(user, password)


def check_compat():
    """Start-up check for the private allauth method overridden above."""
    calls = AuthenticationBackend._authenticate.__code__.co_names
    if "_authenticate_by_email" not in calls or not hasattr(AuthenticationBackend, "_check_password"):
        raise RuntimeError("allauth's authentication backend changed: review "
                           "accounts/backends.py against the installed allauth")
