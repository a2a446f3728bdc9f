from allauth.core import context
from django.contrib.auth.password_validation import MinimumLengthValidator
from django.core.exceptions import ValidationError
from django.utils.translation import ngettext


class TenantMinimumLengthValidator(MinimumLengthValidator):
    """Django's length check, raised to the tenant's minimum (policy) where there is one."""

    def __init__(self, min_length=8):
        super().__init__(min_length)

    def minimum_for(self, user) -> int:
        tenant = getattr(user, "tenant", None) if user is not None else None
        if tenant is None:
            request = context.request
            tenant = getattr(request, "tenant", None) if request is not None else None
        if tenant is None:
            return self.min_length
        return max(self.min_length, tenant.policy.min_password_length)

    def validate(self, password, user=None):
        minimum = self.minimum_for(user)
        if len(password) < minimum:
            raise ValidationError(
                ngettext(
                    "This password is too short. It must contain at least %(min_length)d character.",
                    "This password is too short. It must contain at least %(min_length)d characters.",
                    minimum,
                ),
                code="password_too_short",
                params={"min_length": minimum},
            )
