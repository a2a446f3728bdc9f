import uuid

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tenants.scoping import TenantScopedManager, all_tenants, platform_scope


def new_subject_identifier() -> str:
    return str(uuid.uuid4())


class UserManager(TenantScopedManager, BaseUserManager):
    """Scoped to the tenant in scope (tenants.scoping): the request's host, a task's tenant."""

    use_in_migrations = True

    def __init__(self):
        super().__init__("tenant")

    def _create_user(self, email, password, **extra):
        if not email:
            raise ValueError("An e-mail address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email, password=None, **extra):
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email, password=None, **extra):
        extra.update(is_staff=True, is_superuser=True, tenant=None)
        return self._create_user(email, password, **extra)

    def get_by_natural_key(self, email, tenant_slug=None):
        # An address names a user within one tenant (User.natural_key). Django's own callers
        # (createsuperuser, changepassword) give the address alone: a platform operator's.
        if tenant_slug is None:
            with platform_scope():
                return self.get(email__iexact=email)
        with all_tenants():  # the key names its tenant itself (loaddata --natural-foreign)
            return self.get(tenant__slug=tenant_slug, email__iexact=email)


class User(AbstractBaseUser, PermissionsMixin):
    """An employee of one tenant, or (tenant empty) a platform superuser.

    E-mail is the sign-in name within one tenant, as in Okta orgs and Keycloak realms: the same
    address may be a separate user in each tenant, and platform superusers are unique among
    themselves. Whoever looks a user up by address looks in one tenant (accounts.backends).
    """

    email = models.EmailField(_("e-mail address"))
    name = models.CharField(_("name"), max_length=150, blank=True)
    tenant = models.ForeignKey(
        "tenants.Tenant", on_delete=models.PROTECT, related_name="users",
        null=True, blank=True, verbose_name=_("organisation"),
    )
    language = models.CharField(
        _("language"), max_length=8, default=settings.LANGUAGE_CODE, choices=settings.LANGUAGES
    )
    is_active = models.BooleanField(_("active"), default=True)
    is_staff = models.BooleanField(
        _("organisation admin"), default=False,
        help_text=_("May sign in to the admin site of the organisation."),
    )
    date_joined = models.DateTimeField(_("date joined"), default=timezone.now)
    # The OpenID Connect "sub": never reassigned, and not a counter that tells how many users
    # an organisation has or lets one guess another's. Users from before it existed keep the
    # identifier applications already know them by (their row id; migration 0006).
    subject_identifier = models.CharField(
        _("subject identifier"), max_length=64, unique=True, editable=False,
        default=new_subject_identifier,
    )

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = []

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        constraints = [
            # Only platform superusers stand outside every tenant.
            models.CheckConstraint(
                condition=Q(tenant__isnull=False) | Q(is_superuser=True),
                name="user_has_tenant_unless_superuser",
            ),
            # Its index also serves every look-up by (tenant, address).
            models.UniqueConstraint(
                fields=["tenant", "email"], name="user_email_unique_in_tenant",
                violation_error_code="unique",
                violation_error_message=_(
                    "This organisation already has a user with this e-mail address."
                ),
            ),
            # A NULL tenant never equals another in the constraint above.
            models.UniqueConstraint(
                fields=["email"], condition=Q(tenant__isnull=True),
                name="user_email_unique_among_platform_users",
                violation_error_code="unique",
                violation_error_message=_(
                    "A platform operator with this e-mail address already exists."
                ),
            ),
        ]

    def __str__(self):
        return self.email

    def natural_key(self):
        return (self.email, self.tenant.slug if self.tenant_id else None)

    @classmethod
    def from_db(cls, db, field_names, values):
        # Django's documented way to know a loaded value at save time: a deactivation (active
        # when loaded, inactive when saved) ends the user's access (accounts.signals).
        user = super().from_db(db, field_names, values)
        if "is_active" in field_names:
            user._loaded_is_active = user.is_active
        return user

    def save(self, *args, **kwargs):
        self.email = (self.email or "").strip().lower()
        super().save(*args, **kwargs)

    def get_full_name(self):
        return self.name or self.email

    def get_short_name(self):
        return self.name or self.email


def validate_group_name(value):
    # The CSV "groups" column lists names separated by ";" (console.importing).
    if ";" in value:
        raise ValidationError(_("A group name cannot contain “;”."))
    if value != value.strip():
        raise ValidationError(_("A group name cannot start or end with a space."))
    if value.startswith(("=", "+", "-", "@", "'")):
        # A spreadsheet would read the exported cell as a formula (core.spreadsheet).
        raise ValidationError(_("A group name cannot start with =, +, -, @ or '."))


class TenantGroup(models.Model):
    """A group of one tenant's users, managed by its admins.

    Applications get its name in the "groups" claim (scope "groups"), map it to app roles, and
    may be limited to the members of some groups (sso.models.TenantOIDCClient). Not Django's
    auth.Group, which grants admin permissions and belongs to no tenant.
    """

    tenant = models.ForeignKey(
        "tenants.Tenant", on_delete=models.CASCADE, related_name="user_groups",
        verbose_name=_("organisation"),
    )
    name = models.CharField(_("group name"), max_length=100, validators=[validate_group_name])
    description = models.CharField(_("description"), max_length=300, blank=True)
    members = models.ManyToManyField(
        User, related_name="tenant_groups", blank=True, verbose_name=_("members"),
    )

    objects = TenantScopedManager("tenant")

    class Meta:
        verbose_name = _("group")
        verbose_name_plural = _("groups")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "name"], name="group_name_unique_in_tenant",
                violation_error_code="unique",
                violation_error_message=_("This organisation already has a group with this name."),
            ),
        ]

    def __str__(self):
        return self.name


def group_names_of(user):
    """The names of the user's groups, of the user's own tenant only, sorted."""
    if user is None or user.tenant_id is None:
        return []
    return list(
        TenantGroup.objects.filter(tenant_id=user.tenant_id, members=user)
        .order_by("name").values_list("name", flat=True)
    )
