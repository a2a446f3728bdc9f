"""Provisioning users: the one way the demo, the admin and the CSV import create accounts."""

from allauth.account.models import EmailAddress
from django.conf import settings
from django.db import transaction

from .models import User


@transaction.atomic
def provision_user(*, tenant, email, name="", password=None, is_staff=False, language=None,
                   is_active=True):
    """Create a tenant's user with the allauth e-mail row that sign-in and OIDC claims need.

    The address may be another tenant's user too (a separate user there); within the tenant it
    is unique (IntegrityError, and nothing is created). With no password the account has an
    unusable one until the user sets it (invitation).
    """
    user = User(
        tenant=tenant, email=email.strip().lower(), name=name, is_staff=is_staff,
        language=language or settings.LANGUAGE_CODE, is_active=is_active,
    )
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.save()
    EmailAddress.objects.create(user=user, email=user.email, primary=True, verified=True)
    return user


@transaction.atomic
def sync_email_address(user):
    """After the user's address changed: allauth's e-mail row follows it.

    The row gives the OIDC e-mail claim and the address re-authentication signs in with; a stale
    one would hand relying parties an address that may now name someone else in the tenant.
    """
    EmailAddress.objects.filter(user=user).exclude(email=user.email).delete()
    EmailAddress.objects.update_or_create(
        user=user, email=user.email, defaults={"primary": True, "verified": True},
    )
