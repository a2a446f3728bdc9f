from allauth.account.auth_backends import AuthenticationBackend


def user_belongs_to_request(user, request) -> bool:
    """A tenant's user signs in on that tenant's host only; superusers on the platform host only."""
    tenant = getattr(request, "tenant", None) if request is not None else None
    if tenant is None:
        return user.tenant_id is None and user.is_superuser
    return user.tenant_id == tenant.id


class TenantAuthenticationBackend(AuthenticationBackend):
    """allauth's backend, refusing users of another tenant.

    Refusing here (not in the adapter) keeps the answer identical to a wrong password and lets
    allauth's failed-attempt counter count it.
    """

    def authenticate(self, request, **credentials):
        user = super().authenticate(request, **credentials)
        if user is None or not user_belongs_to_request(user, request):
            return None
        return user
