import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _

from .scoping import TenantScopedManager


class Tenant(models.Model):
    slug = models.SlugField(_("slug"), max_length=63, unique=True)
    name = models.CharField(_("display name"), max_length=200)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("organisation")
        verbose_name_plural = _("organisations")
        ordering = ["slug"]

    def __str__(self):
        return self.name

    @cached_property
    def primary_host(self):
        # Kept with the instance: the request's tenant is cached per process (resolution.py),
        # so the OIDC issuer costs one query per TENANTS_HOST_CACHE_SECONDS, and a saved host clears it.
        host = self.hosts.order_by("-is_primary", "id").first()
        return host.host if host else None


class TenantHost(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="hosts")
    # Lower-case, without port: "acme.localhost", "login.acme.example".
    host = models.CharField(_("host name"), max_length=253, unique=True)
    is_primary = models.BooleanField(_("primary"), default=True)

    class Meta:
        verbose_name = _("host name")
        verbose_name_plural = _("host names")

    def __str__(self):
        return self.host

    def save(self, *args, **kwargs):
        self.host = self.host.strip().lower()
        super().save(*args, **kwargs)


class TenantPolicy(models.Model):
    """The recovery policy of one tenant (docs/product.md): Entra's numbers are the defaults."""

    tenant = models.OneToOneField(Tenant, on_delete=models.CASCADE, related_name="policy")

    questions_enabled = models.BooleanField(
        _("security questions enabled"), default=True,
        help_text=_("Employees may register security questions as a recovery method."),
    )
    authenticator_enabled = models.BooleanField(
        _("authenticator app enabled"), default=True,
        help_text=_("Employees may register an authenticator app (TOTP) as a recovery method."),
    )
    recovery_codes_enabled = models.BooleanField(
        _("recovery codes enabled"), default=False,
        help_text=_(
            "Employees may generate 10 single-use recovery codes, for a password reset and "
            "instead of the authenticator code at sign-in."
        ),
    )
    questions_to_register = models.PositiveSmallIntegerField(
        _("questions to register"), default=3,
        validators=[MinValueValidator(3), MaxValueValidator(5)],
        help_text=_("How many security questions each employee registers (3–5)."),
    )
    questions_to_answer = models.PositiveSmallIntegerField(
        _("questions asked at reset"), default=3,
        validators=[MinValueValidator(3), MaxValueValidator(5)],
        help_text=_("How many of them are asked during a reset (3–5, at most the number registered)."),
    )
    methods_required_for_reset = models.PositiveSmallIntegerField(
        _("methods required for reset"), default=1,
        validators=[MinValueValidator(1), MaxValueValidator(2)],
        help_text=_("1: any one registered method; 2: two different methods must be verified."),
    )
    nudge_enabled = models.BooleanField(
        _("ask for registration at sign-in"), default=True,
        help_text=_("Show “Keep your account secure” after sign-in until enough methods are registered."),
    )
    skip_allowed = models.BooleanField(
        _("skipping allowed"), default=True,
        help_text=_("Employees may skip registration; if off, registration is mandatory."),
    )
    reconfirm_days = models.PositiveIntegerField(
        _("re-confirm after (days)"), default=180,
        validators=[MaxValueValidator(730)],
        help_text=_("Ask employees to re-confirm their methods after this many days (0: never)."),
    )
    reminders_enabled = models.BooleanField(
        _("reminder e-mails"), default=True,
        help_text=_("Send a reminder e-mail when an employee skips registration."),
    )
    reminder_interval_hours = models.PositiveIntegerField(
        _("hours between reminders"), default=24,
        validators=[MinValueValidator(1), MaxValueValidator(24 * 30)],
        help_text=_("At most one reminder per employee in this many hours."),
    )
    mfa_required = models.BooleanField(
        _("authenticator code at sign-in"), default=False,
        help_text=_("Require the authenticator code after the password at every sign-in."),
    )
    min_password_length = models.PositiveSmallIntegerField(
        _("minimum password length"), default=10,
        validators=[MinValueValidator(8), MaxValueValidator(128)],
        help_text=_("Applies to new passwords set by reset or change (8–128)."),
    )
    reset_lock_threshold = models.PositiveSmallIntegerField(
        _("failed verifications before lock"), default=5,
        validators=[MinValueValidator(1), MaxValueValidator(50)],
        help_text=_("Failed reset verifications within the window that lock the reset."),
    )
    reset_lock_minutes = models.PositiveIntegerField(
        _("reset lock (minutes)"), default=60,
        validators=[MinValueValidator(1), MaxValueValidator(60 * 24 * 7)],
        help_text=_("How long the reset stays locked after too many failures."),
    )
    reset_challenge_threshold = models.PositiveSmallIntegerField(
        _("failures from one network before a puzzle"), default=10,
        validators=[MinValueValidator(1), MaxValueValidator(1000)],
        help_text=_(
            "Failed reset verifications from one network address within the window after which "
            "every further try from it first solves a short computing puzzle. The network is "
            "never locked: only the accounts that failed are."
        ),
    )
    helpdesk_text = models.TextField(
        _("help-desk contact"), blank=True, max_length=500,
        help_text=_("Shown when the password reset is locked, e.g. “IT help desk: extension 1234, weekdays 9:00–17:00”."),
    )
    time_zone = models.CharField(
        _("time zone"), max_length=64, default="Asia/Tokyo",
        help_text=_("Times shown to employees, such as the end of a reset lock, are in this time zone (e.g. Asia/Tokyo)."),
    )

    objects = TenantScopedManager("tenant")

    class Meta:
        verbose_name = _("recovery policy")
        verbose_name_plural = _("recovery policies")

    def __str__(self):
        return str(_("Recovery policy of %(tenant)s") % {"tenant": self.tenant})

    def clean(self):
        errors = {}
        if self.questions_to_answer and self.questions_to_register and (
            self.questions_to_answer > self.questions_to_register
        ):
            errors["questions_to_answer"] = _(
                "The questions asked at reset cannot outnumber the questions registered."
            )
        enabled = self.enabled_methods
        if not enabled:
            errors["authenticator_enabled"] = _("Enable at least one recovery method.")
        if self.methods_required_for_reset == 2 and len(enabled) < 2:
            errors["methods_required_for_reset"] = _(
                "Two methods for reset need at least two methods enabled."
            )
        if self.time_zone not in zoneinfo.available_timezones():
            errors["time_zone"] = _("Enter a time zone name such as Asia/Tokyo.")
        if errors:
            raise ValidationError(errors)

    @property
    def zone(self):
        """The tenant's time zone (ZoneInfo); the site's when the stored name is unknown."""
        try:
            return zoneinfo.ZoneInfo(self.time_zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            return zoneinfo.ZoneInfo(settings.TIME_ZONE)

    @property
    def enabled_methods(self):
        methods = []
        if self.questions_enabled:
            methods.append("questions")
        if self.authenticator_enabled:
            methods.append("authenticator")
        if self.recovery_codes_enabled:
            methods.append("recovery_codes")
        return methods


class TenantBranding(models.Model):
    """What makes the portal look like the organisation's own (Entra's "company branding"):
    a logo, an accent colour and a line on the sign-in page. Org admins edit it in the admin;
    tenants.branding checks every value before it is saved."""

    tenant = models.OneToOneField(Tenant, on_delete=models.CASCADE, related_name="branding",
                                  verbose_name=_("organisation"))
    # The logo as the portal re-encoded it (PNG, no metadata), kept in the database so that every
    # web node serves it: there is no shared disk.
    logo_png = models.BinaryField(_("logo"), null=True, blank=True, editable=False)
    logo_version = models.PositiveIntegerField(default=0, editable=False)
    accent_colour = models.CharField(
        _("accent colour"), max_length=7, default="#0067b8",
        help_text=_("Buttons and links, as #rrggbb. It must keep white text readable "
                    "(contrast at least 4.5:1, WCAG AA)."),
    )
    sign_in_text = models.TextField(
        _("sign-in page text"), blank=True, max_length=500,
        help_text=_("Shown under the sign-in form, e.g. who to ask for an account."),
    )

    objects = TenantScopedManager("tenant")

    class Meta:
        verbose_name = _("branding")
        verbose_name_plural = _("branding")

    def __str__(self):
        return str(_("Branding of %(tenant)s") % {"tenant": self.tenant})

    def clean(self):
        from .branding import accent_colour_error

        error = accent_colour_error(self.accent_colour)
        if error:
            raise ValidationError({"accent_colour": error})

    @property
    def has_logo(self):
        return self.logo_version > 0
