"""The password reset's proof of work: self-hosted ALTCHA (the `altcha` package, its v1
SHA-256 protocol), made and checked here, solved by static/js/pow.js in the browser.

A client address that has failed too many reset verifications is not locked (everyone behind
an office NAT shares it): each further try from it first costs a solved challenge. A
challenge is signed with an HMAC key from the settings (recovery.app_settings), expires after
RESET_CHALLENGE_LIFETIME and is good for one try: its salt is recorded (UsedChallenge) in the
same transaction as the try it paid for, so a replayed solution is refused on any node.
"""

import hashlib
from datetime import UTC, datetime, timedelta

import altcha
from django.db import IntegrityError, transaction
from django.utils import timezone

from . import app_settings
from .models import UsedChallenge

FIELD = "altcha"  # the form field the solution (base64 JSON) is posted in, as ALTCHA names it
MAX_PAYLOAD_LENGTH = 2048


def new_challenge() -> dict:
    """A fresh challenge as the browser needs it (JSON-able): algorithm, challenge, maxNumber,
    salt (with its expiry), signature."""
    challenge = altcha.create_challenge_v1(
        algorithm="SHA-256",
        max_number=app_settings.RESET_CHALLENGE_MAX_NUMBER,
        hmac_key=app_settings.RESET_CHALLENGE_HMAC_KEY,
        expires=timezone.now() + app_settings.RESET_CHALLENGE_LIFETIME,
    )
    return challenge.to_dict()


def _digest(payload) -> str:
    return hashlib.sha256(f"{payload['salt']}|{payload['challenge']}".encode()).hexdigest()


def spend(payload_text) -> bool:
    """True when payload_text is a valid, unexpired, signed solution never spent before; it is
    then spent. Call inside the transaction that counts the try it pays for."""
    if not payload_text or len(payload_text) > MAX_PAYLOAD_LENGTH:
        return False
    try:
        valid, _error = altcha.verify_solution_v1(
            payload_text, app_settings.RESET_CHALLENGE_HMAC_KEY, check_expires=True
        )
        if not valid:
            return False
        payload = altcha.PayloadV1.from_base64(payload_text).to_dict()
        _hex, expires, _params = altcha.PayloadV1.from_dict(payload).parse_salt()
    except (TypeError, ValueError, KeyError, AttributeError):
        return False  # not a payload at all (a number, a list, a salt that is no string …)
    if expires is None:
        return False  # every challenge made here expires
    try:
        with transaction.atomic():
            UsedChallenge.objects.create(
                digest=_digest(payload),
                expires_at=datetime.fromtimestamp(expires, tz=UTC) + timedelta(minutes=1),
            )
    except IntegrityError:
        return False  # already spent, here or on another node
    return True


def purge_expired(now=None) -> int:
    """Forget spent challenges that have expired anyway (their solutions are refused by date)."""
    return UsedChallenge.objects.filter(expires_at__lte=now or timezone.now()).delete()[0]
