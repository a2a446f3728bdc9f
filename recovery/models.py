from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _
from django_otp.models import Device, DeviceManager, ThrottlingMixin, TimestampMixin

from tenants.scoping import TenantScopedManager

QUESTION_MIN_LENGTH = 3  # and at most 200 (the fields' max_length)
MAX_CUSTOM_QUESTIONS = 20


class SecurityQuestion(models.Model):
    """A question of the built-in bank (tenant empty) or a tenant's custom question."""

    tenant = models.ForeignKey(
        "tenants.Tenant", on_delete=models.CASCADE, null=True, blank=True,
        related_name="security_questions", verbose_name=_("organisation"),
        help_text=_("Empty for the built-in questions every organisation can use."),
    )
    text_ja = models.CharField(_("question (Japanese)"), max_length=200)
    text_en = models.CharField(_("question (English)"), max_length=200)
    is_active = models.BooleanField(_("offered"), default=True)
    position = models.PositiveIntegerField(_("order"), default=0)

    # A tenant's own questions and the built-in bank (no tenant), which every tenant uses.
    objects = TenantScopedManager("tenant", shared=True)

    class Meta:
        verbose_name = _("security question")
        verbose_name_plural = _("security questions")
        ordering = ["tenant_id", "position", "id"]
        indexes = [models.Index(fields=["tenant", "is_active"])]

    def __str__(self):
        return self.text

    def clean(self):
        errors = {}
        for field in ("text_ja", "text_en"):
            text = (getattr(self, field) or "").strip()
            setattr(self, field, text)
            if len(text) < QUESTION_MIN_LENGTH:
                errors[field] = _("Write at least %(min)d characters.") % {"min": QUESTION_MIN_LENGTH}
        if self.tenant_id is not None:
            others = SecurityQuestion.objects.filter(tenant_id=self.tenant_id).exclude(pk=self.pk)
            if others.count() >= MAX_CUSTOM_QUESTIONS:
                errors.setdefault("__all__", []).append(_(
                    "An organisation can have at most %(max)d custom questions."
                ) % {"max": MAX_CUSTOM_QUESTIONS})
        if errors:
            raise ValidationError(errors)

    @property
    def text(self):
        return self.text_ja if (get_language() or "ja").startswith("ja") else self.text_en


class _NothingElseRefuses:
    """Ends ThrottlingMixin.verify_is_allowed()'s super() chain, as django-otp's Device does."""

    def verify_is_allowed(self):
        return True, None


class SecurityQuestionsDevice(TimestampMixin, ThrottlingMixin, _NothingElseRefuses, models.Model):
    """A user's registered security questions, throttled by django-otp's ThrottlingMixin.

    Not a django-otp Device on purpose: answers are a recovery method, never a second factor,
    so match_token(), devices_for_user() and a verified session (is_verified()) cannot see them.
    """

    # The columns this table had as a django-otp Device, unchanged: no migration, no data to move.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
        help_text="The user that this device belongs to.",
    )
    name = models.CharField(max_length=64, help_text="The human-readable name of this device.")
    confirmed = models.BooleanField(default=True, help_text="Is this device ready for use?")

    objects = TenantScopedManager("user__tenant")

    class Meta:
        verbose_name = _("security questions")
        verbose_name_plural = _("security questions")

    def __str__(self):
        return f"{self.name} ({self.user})"

    def get_throttle_factor(self):
        return getattr(settings, "OTP_SECURITY_QUESTIONS_THROTTLE_FACTOR", 1)

    def verify_answers(self, answers):
        """answers: {question_id: answer}. Throttled like django-otp's own devices.

        Checks of one device take turns on its row (SELECT … FOR UPDATE): each reads the
        failures the one before it wrote, so parallel guesses neither slip past the back-off
        together nor overwrite each other's failure (a lost update counted four guesses as one).
        """
        from .services import check_device_answers, hash_dummy_answers

        with transaction.atomic(savepoint=False):  # within the reset's transaction: no savepoint
            self.refresh_from_db(from_queryset=type(self).objects.select_for_update())
            allowed, _details = self.verify_is_allowed()
            if not allowed:
                hash_dummy_answers(len(answers) or 1)  # a locked device answers in the same time
                return False
            if check_device_answers(self, answers):
                self.throttle_reset(commit=False)
                self.set_last_used_timestamp(commit=False)
                self.save()
                return True
            self.throttle_increment()
            return False


def recovery_code_digest(user_id, code, secret=None) -> str:
    """What is stored for a recovery code: HMAC-SHA256 keyed with SECRET_KEY over the user and
    the normalised code (accounts.otp.normalise_recovery_code).

    A keyed fast hash rather than a slow password hash: a code is 60 random bits, not a
    password a person chose, so there is no dictionary to try; the key lives outside the
    database, so a copy of the table alone allows no guessing at all; and a check compares one
    indexed digest instead of running a slow hash for each of ten codes. The user's id in the
    message ties a digest to its owner.
    """
    return salted_hmac(
        "recovery.codes", f"{user_id}:{code}", secret=secret, algorithm="sha256"
    ).hexdigest()


def recovery_code_digests(user_id, code) -> list[str]:
    """The digests a code may be stored under: the current SECRET_KEY's, then those of
    SECRET_KEY_FALLBACKS, so rotating the key does not kill every user's codes."""
    keys = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    return [recovery_code_digest(user_id, code, secret=key) for key in keys]


class RecoveryCodeDeviceManager(TenantScopedManager, DeviceManager):
    """Scoped to the user's tenant (tenants.scoping), with django-otp's devices_for_user()."""

    def __init__(self):
        super().__init__("user__tenant")


class RecoveryCodeDevice(TimestampMixin, ThrottlingMixin, Device):
    """A user's set of single-use recovery codes (NIST SP 800-63B look-up secrets).

    A django-otp Device, so the sign-in's code step finds it through devices_for_user() and a
    session verified with it is is_verified(). Unlike django-otp's StaticDevice, whose tokens
    are stored in clear, only keyed digests are stored (recovery_code_digest). A new set
    replaces the device, so the old codes die with it.
    """

    # accounts.otp.lookup_secret_devices(): the sign-in's "use a recovery code" finds these.
    lookup_secret = True

    objects = RecoveryCodeDeviceManager()

    class Meta:
        verbose_name = _("recovery codes")
        verbose_name_plural = _("recovery codes")

    def get_throttle_factor(self):
        return getattr(settings, "OTP_RECOVERY_CODES_THROTTLE_FACTOR", 1)

    def verify_token(self, token):
        """Use up one code: True once for each code of the set, then never again.

        Checks of one device take turns on its row (SELECT … FOR UPDATE), so two requests with
        the same code cannot both pass; the code's row is deleted in the same transaction.
        """
        from accounts.otp import normalise_recovery_code

        code = normalise_recovery_code(token)
        with transaction.atomic(savepoint=False):
            self.refresh_from_db(from_queryset=type(self).objects.select_for_update())
            allowed, _details = self.verify_is_allowed()
            if not allowed:
                return False
            digests = recovery_code_digests(self.user_id, code)
            stored = list(self.codes.filter(digest__in=digests))
            match = next(
                (row for row in stored if any(constant_time_compare(row.digest, d) for d in digests)),
                None,
            )
            # The row lock above already serialises checks; counting the deleted row as well
            # means a code is spent by exactly one check even if that lock were ever lost.
            if match is None or not RecoveryCode.objects.filter(pk=match.pk).delete()[0]:
                self.throttle_increment()
                return False
            self.throttle_reset(commit=False)
            self.set_last_used_timestamp(commit=False)
            self.save()
        from .notifications import recovery_codes_used

        recovery_codes_used(self)
        return True


class RecoveryCode(models.Model):
    """One unused code of a set; deleted when used. Only its keyed digest is stored."""

    device = models.ForeignKey(RecoveryCodeDevice, on_delete=models.CASCADE, related_name="codes")
    digest = models.CharField(max_length=64)

    objects = TenantScopedManager("device__user__tenant")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["device", "digest"], name="one_recovery_code_per_digest"),
        ]

    def __str__(self):
        return f"recovery code of device {self.device_id}"


class SecurityAnswer(models.Model):
    device = models.ForeignKey(
        SecurityQuestionsDevice, on_delete=models.CASCADE, related_name="answers"
    )
    question = models.ForeignKey(SecurityQuestion, on_delete=models.PROTECT, related_name="+")
    # A salted slow hash (Django's password hasher) of the normalised answer, never the answer.
    answer_hash = models.CharField(max_length=256)

    objects = TenantScopedManager("device__user__tenant")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["device", "question"], name="one_answer_per_question"),
        ]

    def __str__(self):
        return f"answer to question {self.question_id}"


class RecoveryProfile(models.Model):
    """Per-user registration and reset state that the nudge, reminders and admin read."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="recovery"
    )
    skip_count = models.PositiveIntegerField(_("times skipped"), default=0)
    last_skipped_at = models.DateTimeField(_("last skipped"), null=True, blank=True)
    last_nudged_at = models.DateTimeField(_("last prompted"), null=True, blank=True)
    # Set when methods are registered or re-confirmed; the re-confirm interval counts from here.
    methods_confirmed_at = models.DateTimeField(_("methods confirmed"), null=True, blank=True)
    last_reminder_at = models.DateTimeField(_("last reminder"), null=True, blank=True)
    last_reset_at = models.DateTimeField(_("last reset"), null=True, blank=True)
    last_reset_method = models.CharField(_("last reset method"), max_length=32, blank=True)

    objects = TenantScopedManager("user__tenant")

    class Meta:
        verbose_name = _("recovery status")
        verbose_name_plural = _("recovery status")

    def __str__(self):
        return str(self.user)


class ResetThrottle(models.Model):
    """The password reset's failures and lock for one scope: an account or a client address.

    In the database rather than the cache, so restarting Redis forgets no lock. recovery.reset
    takes a try on each row under SELECT … FOR UPDATE before any secret is compared, so parallel
    guesses on any number of web nodes get exactly the policy's number of checks. The key is a
    keyed hash: the table holds no sign-in names or addresses in clear.
    """

    class Scope(models.TextChoices):
        # Not shown to anyone (no admin page), so not translated.
        ACCOUNT = "account"  # a sign-in name on one tenant, real or not: locked at the policy's number
        PAIR = "pair"  # one client address trying one such name: locked at the policy's number
        ADDRESS = "address"  # a client address, over every tenant: never locked, challenged

    scope = models.CharField(max_length=16, choices=Scope.choices)
    key = models.CharField(max_length=64)
    failures = models.PositiveIntegerField(default=0)
    # Failures count from the first one in a window; the window and a lock that ended start
    # the count again.
    window_started = models.DateTimeField(null=True, blank=True)
    locked_until = models.DateTimeField(null=True, blank=True)
    # The last failure counted: the back-off between tries of a name runs from here, for real
    # names and decoys alike.
    last_failure_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["scope", "key"], name="one_reset_throttle_per_key"),
        ]

    def __str__(self):
        return f"{self.scope} {self.key[:8]}"


class UsedChallenge(models.Model):
    """A solved proof-of-work challenge (ALTCHA) already spent on a reset try: each is good for
    one try. Kept until the challenge itself expires, then purged with the ended counters."""

    # The challenge's salt (it embeds the expiry), hashed to a fixed length.
    digest = models.CharField(max_length=64, unique=True)
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self):
        return self.digest[:8]
