"""The sign-in nudge (docs/product.md flow A): its URL and a user who has registered."""

from django.conf import settings

from recovery import services
from recovery.models import SecurityQuestion

NUDGE = "/security-info/keep-your-account-secure/"
SLOW_HASHERS = settings.PASSWORD_HASHERS  # as configured, before any test makes them fast


def register_questions(user):
    bank = list(SecurityQuestion.objects.filter(tenant=None)[:3])
    services.register_security_questions(user, {q: f"answer {i}" for i, q in enumerate(bank)})
