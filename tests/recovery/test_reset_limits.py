"""Password reset under attack: locks shared by every browser and web node, bad input, Redis down."""

import socket
from datetime import timedelta

import psycopg
import pytest
from django.conf import settings
from django.db.models import F
from django.utils import timezone

from audit.models import AuditEvent
from recovery import reset
from recovery.models import ResetThrottle, SecurityQuestion
from tests.support.clients import PASSWORD, client_for
from tests.support.faults import database_url_for
from tests.support.reset import (
    NEW,
    NEW_PASSWORD,
    RESET,
    VERIFY,
    Page,
    answer,
    begin,
    register_app,
    register_questions,
)


@pytest.fixture(autouse=True)
def no_back_off(settings):
    """These tests are about the lock: django-otp's back-off between tries (documented factor
    0: off) would make each wrong try wait first. tests/recovery/test_throttling_dos.py tests it."""
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    settings.OTP_SECURITY_QUESTIONS_THROTTLE_FACTOR = 0


def wrong_code(totp):
    return f"{(int(totp.now()) + 500_000) % 1_000_000:06d}"


# --- Locks ------------------------------------------------------------------------------------

@pytest.mark.django_db
def test_five_failures_lock_the_name_for_every_browser_and_address(tenant, make_user, user):
    totp = register_app(user)
    admin = make_user(tenant, "admin@demo.example", is_staff=True)
    first = client_for(tenant, REMOTE_ADDR="192.0.2.1")
    second = client_for(tenant, REMOTE_ADDR="198.51.100.2")
    begin(first, user.email, ("authenticator",))
    begin(second, user.email.upper(), ("authenticator",))
    for client in (first, second, first, second):
        response = client.post(VERIFY, {"code": wrong_code(totp)})
        assert response.status_code == 200 and "コードが正しくありません" in response.content.decode()
    locked = second.post(VERIFY, {"code": wrong_code(totp)})
    assert locked.status_code == 429
    assert "ロックされます" in locked.content.decode()

    # Now even the right code is refused, in both browsers and in a fresh attempt elsewhere.
    assert first.post(VERIFY, {"code": totp.now()}).status_code == 429
    assert begin(client_for(tenant, REMOTE_ADDR="203.0.113.3"), user.email, ("authenticator",)).status_code == 429
    until = reset.reset_lock_state(user)
    assert timezone.now() + timedelta(minutes=59) < until <= timezone.now() + timedelta(minutes=60)
    assert AuditEvent.objects.filter(user=user, kind="reset.locked", data={"scope": "account"}).count() == 1

    # An unknown name locks the same way and shows the same page.
    stranger = client_for(tenant, REMOTE_ADDR="192.0.2.77")
    begin(stranger, "nobody@demo.example", ("authenticator",))
    responses = [stranger.post(VERIFY, {"code": "000000"}) for _ in range(5)]
    assert [r.status_code for r in responses] == [200, 200, 200, 200, 429]
    assert Page(responses[-1]).text == Page(locked).text

    reset.unlock_reset(user, actor=admin)
    assert reset.reset_lock_state(user) is None
    unlocked = AuditEvent.objects.get(kind="reset.unlocked")
    assert unlocked.user == user and unlocked.data == {"actor": admin.email}
    client = client_for(tenant, REMOTE_ADDR="192.0.2.5")
    begin(client, user.email, ("authenticator",))
    assert client.post(VERIFY, {"code": totp.now()})["Location"] == VERIFY


@pytest.mark.django_db
def test_the_policy_sets_the_threshold_and_the_lock_length(make_tenant, make_user, bank):
    tenant = make_tenant("tight", reset_lock_threshold=2, reset_lock_minutes=5)
    user = make_user(tenant, "tight@tight.example")
    answers = register_questions(user, bank[:3])
    client = client_for(tenant)
    page = Page(begin(client, user.email))
    wrong = {q: "wrong answer" for q in answers}
    assert answer(client, page, wrong).status_code == 200
    assert answer(client, page, wrong).status_code == 429
    assert answer(client, page, answers).status_code == 429  # the right answers, too late
    until = reset.reset_lock_state(user)
    assert timezone.now() + timedelta(minutes=4) < until <= timezone.now() + timedelta(minutes=5)


@pytest.mark.django_db
def test_after_the_lock_the_count_starts_again_and_the_daily_purge_drops_ended_counters(
    make_tenant, make_user, bank
):
    from recovery.tasks import purge_reset_counters

    tenant = make_tenant("tight", reset_lock_threshold=2, reset_lock_minutes=5)
    user = make_user(tenant, "tight@tight.example")
    answers = register_questions(user, bank[:3])
    client = client_for(tenant)
    page = Page(begin(client, user.email))
    wrong = {q: "wrong answer" for q in answers}
    assert [answer(client, page, wrong).status_code for _ in range(2)] == [200, 429]
    assert purge_reset_counters() == 0  # the name's lock and the address's window are running

    # Six minutes later the lock is over (stored times moved back instead of waiting).
    counters = ResetThrottle.objects.all()
    counters.update(window_started=F("window_started") - timedelta(minutes=6),
                    locked_until=F("locked_until") - timedelta(minutes=6))
    assert reset.reset_lock_state(user) is None
    assert answer(client, page, wrong).status_code == 200  # one of two again, not locked at once
    assert purge_reset_counters() == 0

    # An hour and more after their last failures the counters are deleted; nothing is locked.
    counters.update(window_started=F("window_started") - timedelta(hours=1))
    assert purge_reset_counters() == 3  # the name's, the (address, name) pair's and the address's
    assert answer(client, page, wrong).status_code == 200


@pytest.mark.django_db
def test_one_address_guessing_at_many_names_is_challenged_not_locked(tenant):
    # Everyone behind an office NAT shares one address: it is never locked. Past the policy's
    # threshold each further try from it first needs a solved proof of work, and is not checked
    # (nor counted) without one.
    threshold = tenant.policy.reset_challenge_threshold
    attacker = client_for(tenant, REMOTE_ADDR="192.0.2.66", HTTP_ACCEPT_LANGUAGE="en")
    responses = []
    for i in range(3):
        begin(attacker, f"guess{i}@demo.example", ("authenticator",))
        responses += [attacker.post(VERIFY, {"code": "000000"}) for _ in range(4)]
    assert [r.status_code for r in responses] == [200] * 12
    assert sum("The code is not correct" in r.content.decode() for r in responses) == threshold
    assert all("Your answer was not checked yet" in r.content.decode() for r in responses[threshold:])
    assert AuditEvent.objects.filter(kind="reset.verify_failed").count() == threshold
    assert not AuditEvent.objects.filter(kind="reset.locked").exists()
    # A colleague at the same address is not locked out: the page asks for the puzzle.
    colleague = begin(client_for(tenant, REMOTE_ADDR="192.0.2.66"), "guess9@demo.example", ("authenticator",))
    assert colleague.status_code == 200 and "data-pow" in colleague.content.decode()
    elsewhere = begin(client_for(tenant, REMOTE_ADDR="192.0.2.67"), "guess9@demo.example", ("authenticator",))
    assert elsewhere.status_code == 200 and "data-pow" not in elsewhere.content.decode()


# --- Bad input --------------------------------------------------------------------------------

HUGE = "x" * 10_240


def assert_refused_without_change(response, user, message):
    assert response.status_code == 200  # the form again, with the message next to the field
    assert message in response.content.decode()
    user.refresh_from_db()
    assert user.check_password(PASSWORD)
    assert not AuditEvent.objects.filter(kind__in=["reset.verify_failed", "reset.verify_passed"]).exists()


@pytest.mark.django_db
@pytest.mark.parametrize("email, message", [
    ("", "このフィールドは必須です"),
    (HUGE, "254"),
    ("hana\x07ko@demo.example", "制御文字"),
    ("hana\x00ko@demo.example", "制御文字"),
    ("not an address", "メールアドレス"),
], ids=["empty", "huge", "control", "null", "not-email"])
def test_bad_sign_in_names(tenant, user, email, message):
    client = client_for(tenant, HTTP_ACCEPT_LANGUAGE="ja")
    response = client.post(RESET, {"email": email})
    assert_refused_without_change(response, user, message)
    assert not AuditEvent.objects.filter(kind="reset.started").exists()


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["", HUGE, "questions\x07", "sms"], ids=["empty", "huge", "control", "unknown"])
def test_bad_method_choices(tenant, user, method):
    client = client_for(tenant)
    client.post(RESET, {"email": user.email})
    response = client.post(RESET + "method/", {"method": method})
    assert_refused_without_change(response, user, 'class="errorlist"')
    assert client.get(VERIFY)["Location"] == RESET  # no method was chosen


@pytest.mark.django_db
@pytest.mark.parametrize("bad", ["empty", "huge", "control", "other tenant's question"])
def test_bad_answers(tenant, other_tenant, user, bank, bad):
    answers = register_questions(user, bank[:3])
    foreign = SecurityQuestion.objects.create(tenant=other_tenant, text_ja="他社の質問", text_en="Theirs")
    client = client_for(tenant)
    page = Page(begin(client, user.email))
    data = {key.removeprefix("id_"): answers[q] for key, q in page.labels.items() if key and key.startswith("id_answer_")}
    if bad == "empty":
        data["answer_2"] = ""
        message = "このフィールドは必須です"
    elif bad == "huge":
        data["answer_2"] = HUGE
        message = "40"
    elif bad == "control":
        data["answer_2"] = "To\x1bkyo"
        message = "制御文字"
    else:
        # Questions are held server-side: a question id in the post is not looked at.
        data = {f"answer_{foreign.pk}": "x", "question": str(foreign.pk), "question_1": str(foreign.pk)}
        message = "このフィールドは必須です"
    assert_refused_without_change(client.post(VERIFY, data), user, message)
    assert Page(client.get(VERIFY)).questions == page.questions


@pytest.mark.django_db
@pytest.mark.parametrize("code, message", [
    # The messages of accounts.otp.code_format_error, as on every page that asks for a code.
    ("", "アプリに表示された 6 桁のコードを入力してください"),
    ("12345", "コードは 6 桁で入力してください"),
    ("1234567", "コードは 6 桁で入力してください"),
    ("12a456", "コードは数字（0–9）のみで入力してください"),
    ("12\x0756", "コードは数字（0–9）のみで入力してください"),
    (HUGE, "16"),
], ids=["empty", "short", "long", "letters", "control", "huge"])
def test_bad_codes(tenant, user, code, message):
    register_app(user)
    client = client_for(tenant)
    begin(client, user.email, ("authenticator",))
    assert_refused_without_change(client.post(VERIFY, {"code": code}), user, message)


@pytest.mark.django_db
@pytest.mark.parametrize("first, second, message", [
    ("", "", "このフィールドは必須です"),
    (HUGE, HUGE, "1024"),
    ("Fresh-meadow\x07-71", "Fresh-meadow\x07-71", "制御文字"),
    (NEW, NEW + "x", "一致しません"),
], ids=["empty", "huge", "control", "mismatch"])
def test_bad_new_passwords(tenant, user, bank, first, second, message):
    answers = register_questions(user, bank[:3])
    client = client_for(tenant)
    answer(client, Page(begin(client, user.email)), answers)
    response = client.post(NEW_PASSWORD, {"new_password1": first, "new_password2": second})
    assert response.status_code == 200 and message in response.content.decode()
    user.refresh_from_db()
    assert user.check_password(PASSWORD)
    assert not AuditEvent.objects.filter(kind="reset.completed").exists()


# --- Redis down, counters unreachable ----------------------------------------------------------

@pytest.fixture
def cache_down(settings):
    """The cache points at a port nobody listens on: every read and write fails at once.

    Sessions go to the database here, so only what lives in the cache meets the outage.
    """
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{port}/0",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.db"


@pytest.mark.django_db
def test_the_lock_counts_and_holds_while_redis_is_down(tenant, user, bank, cache_down):
    # The counters are database rows: a cache outage neither opens the reset to guessing nor
    # shuts it for the people who need it.
    answers = register_questions(user, bank[:3])
    client = client_for(tenant)
    page = Page(begin(client, user.email))
    wrong = {q: "wrong answer" for q in answers}
    assert [answer(client, page, wrong).status_code for _ in range(5)] == [200] * 4 + [429]
    assert answer(client, page, answers).status_code == 429
    assert reset.reset_lock_state(user) is not None
    reset.unlock_reset(user)  # django-otp's back-off on the device is lifted with it
    assert answer(client, page, answers)["Location"] == VERIFY


@pytest.fixture
def counters_held(db):
    """Another database session holds the counter table against writes (as a stuck transaction
    or a long migration would) until the test ends; reads still go through."""
    with psycopg.connect(database_url_for(settings.DATABASES["default"]["NAME"]), autocommit=False) as other:
        other.execute(f"LOCK TABLE {ResetThrottle._meta.db_table} IN EXCLUSIVE MODE")
        yield
        other.rollback()


@pytest.mark.django_db
@pytest.mark.postgres
def test_verification_fails_closed_when_the_counters_cannot_be_reached(tenant, user, bank, counters_held):
    answers = register_questions(user, bank[:3])
    client = client_for(tenant)
    client.post(RESET, {"email": user.email})
    client.post(RESET + "method/", {"method": "questions"})
    page = client.get(VERIFY)
    assert page.status_code == 200  # not locked, as far as can be read
    # Nothing is checked while a try cannot be counted, whatever is posted.
    response = answer(client, Page(page), answers)
    assert response.status_code == 503 and "何も変更されていません" in response.content.decode()
    assert not AuditEvent.objects.filter(kind__startswith="reset.verify").exists()
    assert client.get(NEW_PASSWORD)["Location"] == RESET
    assert client.post(NEW_PASSWORD, {"new_password1": NEW, "new_password2": NEW})["Location"] == RESET
    user.refresh_from_db()
    assert user.check_password(PASSWORD)
    with pytest.raises(reset.ResetUnavailable):
        reset.unlock_reset(user)
