from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend

from tenants.scoping import platform_scope, tenant_scope


def user_belongs_to_request(user, request) -> bool:
    """A tenant's user signs in on that tenant's host only; superusers on the platform host only."""
    tenant = getattr(request, "tenant", None) if request is not None else None
    if tenant is None:
        return user.tenant_id is None and user.is_superuser
    return user.tenant_id == tenant.id


def platform_users():
    """The platform's operators: superusers outside every tenant (the platform host's users)."""
    with platform_scope():
        return get_user_model()._default_manager.filter(is_superuser=True)


def users_of_request(request):
    """The users who may sign in on the request's host (see user_belongs_to_request)."""
    tenant = getattr(request, "tenant", None) if request is not None else None
    if tenant is None:
        return platform_users()
    with tenant_scope(tenant):
        return get_user_model()._default_manager.all()


class TenantAuthenticationBackend(ModelBackend):
    """The only backend: the address is looked up among the request's tenant's users only.

    Django's documented backend API (authenticate / get_user / user_can_authenticate), not
    allauth's backend, whose look-up across every tenant could only be changed through a private
    method. The same address may be a user in each of several tenants: only this host's user is
    looked up and only their password is checked, never another tenant's. An address with no
    user here costs one hash like a wrong password (as Django's ModelBackend and allauth do) and
    gets the wrong-password answer, counted by allauth's failed-attempt limit like one.

    A session's user (ModelBackend.get_user) is looked up in the request's scope
    (tenants.scoping): on a tenant's host another tenant's user is nobody.

    A disabled user with the right password is returned, as allauth's own backend hands it over:
    allauth's pre_login then shows "account inactive" and never signs them in. A session is never
    restored for a disabled user (ModelBackend.get_user asks user_can_authenticate).
    """

    def authenticate(self, request, username=None, password=None, email=None, **kwargs):
        login = email or username
        if not login or not password:
            return None
        user = users_of_request(request).filter(email=login.lower()).first()
        if user is None:
            get_user_model()().set_password(password)
            return None
        return user if user.check_password(password) else None
