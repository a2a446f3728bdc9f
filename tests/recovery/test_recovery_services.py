"""The rules under the registration and reset flows: normalised, hashed, throttled answers."""

import pyotp
import pytest
from django_otp.oath import totp

from recovery import services, status
from recovery.models import SecurityAnswer, SecurityQuestion


@pytest.fixture
def questions(db):
    return [
        SecurityQuestion.objects.create(text_ja=f"質問{i}", text_en=f"Question {i}", position=i)
        for i in range(5)
    ]


@pytest.mark.django_db
def test_answers_match_after_normalisation_and_are_stored_hashed(user, questions):
    services.register_security_questions(
        user, {questions[0]: "Tokyo ", questions[1]: "Mochi  Cat", questions[2]: "blue"}
    )
    stored = SecurityAnswer.objects.filter(device__user=user)
    assert stored.count() == 3
    assert all("tokyo" not in a.answer_hash.lower() for a in stored)
    assert services.verify_answers(user, {questions[0].pk: "ｔｏｋｙｏ", questions[1].pk: " mochi cat"})
    assert not services.verify_answers(user, {questions[0].pk: "Kyoto"})
    assert not services.verify_answers(user, {questions[3].pk: "tokyo"})  # not one of theirs
    assert not services.verify_answers(user, {})


@pytest.mark.django_db
def test_wrong_answers_are_throttled(user, questions):
    services.register_security_questions(user, {q: f"answer {i}" for i, q in enumerate(questions[:3])})
    assert not services.verify_answers(user, {questions[0].pk: "wrong"})
    # django-otp's throttle: right after a failure even the right answer is refused.
    assert not services.verify_answers(user, {questions[0].pk: "answer 0"})


@pytest.mark.django_db
def test_authenticator_secret_and_uri_work_in_an_independent_totp_app(user):
    device = services.start_authenticator_setup(user)
    secret = services.authenticator_secret(device)
    uri = services.authenticator_uri(device)
    parsed = pyotp.parse_uri(uri)
    assert parsed.secret.rstrip("=") == secret
    assert parsed.issuer == "Demo Corporation"
    assert parsed.name in (user.email, f"Demo Corporation:{user.email}")
    assert pyotp.TOTP(secret).now() == f"{totp(device.bin_key):06d}"


@pytest.mark.django_db
def test_registered_methods_and_reregistration(user, questions):
    assert status.registered_methods(user) == set()
    services.register_security_questions(user, {q: f"answer {i}" for i, q in enumerate(questions[:3])})
    device = services.start_authenticator_setup(user)
    services.confirm_authenticator(device)
    assert status.registered_methods(user) == {"questions", "authenticator"}
    services.require_reregistration(user)
    assert status.registered_methods(user) == set()
