"""Flows B–D inside the sign-in nudge: security questions and the authenticator app."""

import io
import logging
import re
import subprocess
import time

import pyotp
import pytest
from django.contrib.auth.hashers import identify_hasher
from PIL import Image
from pyzbar.pyzbar import decode as zbar_decode

from accounts.otp import authenticator_device
from audit.models import AuditEvent
from recovery import services
from recovery.models import SecurityAnswer, SecurityQuestion, SecurityQuestionsDevice
from tests.support.nudge import SLOW_HASHERS
from tests.support.registration import (
    AUTHENTICATOR,
    CODE,
    FINISH,
    QUESTIONS,
    SCAN,
    bank,
    field_errors,
    in_nudge,
    question_data,
    scan_page,
)

# --- Security questions ------------------------------------------------------------------------

@pytest.mark.django_db
def test_bank_has_at_least_35_questions_in_both_languages():
    questions = SecurityQuestion.objects.filter(tenant=None, is_active=True)
    assert questions.count() >= 35
    assert all(q.text_ja and q.text_en and q.text_ja != q.text_en for q in questions)
    assert questions.filter(text_en="In what city was your first job?").exists()


@pytest.mark.django_db
def test_picker_then_questions_then_back_to_the_destination(tenant, user):
    client = in_nudge(tenant, user, next_url="/security-info/")
    picker = client.get("/security-info/methods/")
    for wording in ("方法を選択します", "秘密の質問", "認証アプリ", "確認"):
        assert wording in picker.text
    assert client.post("/security-info/methods/", {"method": "questions"})["Location"] == QUESTIONS

    page = client.get(QUESTIONS)
    assert page.status_code == 200 and page.text.count("<h1") == 1
    assert page.text.count('<option value="') >= 3 * 35  # the bank in each of the 3 selects
    assert '<label for="id_answer_1">' in page.text
    questions = bank(3)
    done = client.post(QUESTIONS, question_data(questions, ["Tokyo ", "Mochi", "Blue whale"]))
    assert done["Location"] == "/security-info/questions/done/"
    page = client.get(done["Location"])
    assert "セキュリティの質問が正常に登録されました" in page.text and "完了" in page.text
    assert "_auth_user_id" not in client.session  # still inside the sign-in until "完了"

    finished = client.post(FINISH)
    assert finished["Location"] == "/security-info/"  # the sign-in's next survived the detour
    assert "_auth_user_id" in client.session

    stored = SecurityAnswer.objects.filter(device__user=user)
    assert stored.count() == 3
    assert all("tokyo" not in answer.answer_hash.lower() for answer in stored)
    assert services.verify_answers(user, {questions[0].pk: "ｔｏｋｙｏ"})  # full-width, no space
    assert AuditEvent.objects.filter(user=user, kind="method.registered", data__method="questions").exists()


@pytest.mark.django_db
def test_answers_are_stored_with_the_slow_salted_hasher(settings, user):
    settings.PASSWORD_HASHERS = SLOW_HASHERS
    first, second, third = bank(3)
    services.register_security_questions(user, {first: "Tokyo ", second: "tokyo", third: "Blue"})
    hashes = [a.answer_hash for a in SecurityAnswer.objects.filter(device__user=user).order_by("id")]
    assert {identify_hasher(h).algorithm for h in hashes} == {"argon2"}
    assert hashes[0] != hashes[1]  # salted: the same normalised answer hashes differently
    assert services.verify_answers(user, {first.pk: "ｔｏｋｙｏ", second.pk: "TOKYO"})


BAD_ANSWERS = [
    (["", "Mochi", "Blue"], "answer_1", "回答を入力してください"),
    (["ab", "Mochi", "Blue"], "answer_1", "3 文字以上"),
    (["  ａｂ  ", "Mochi", "Blue"], "answer_1", "3 文字以上"),  # "ab" after normalisation
    (["x" * 41, "Mochi", "Blue"], "answer_1", "40 文字以内"),
    (["x" * 500, "Mochi", "Blue"], "answer_1", "40 文字以内"),
    (["Tokyo", "ｔｏｋｙｏ ", "Blue"], "answer_2", "異なる回答"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("answers", "field", "message"), BAD_ANSWERS)
def test_bad_answers_are_refused_next_to_the_field(tenant, user, answers, field, message):
    client = in_nudge(tenant, user)
    page = client.post(QUESTIONS, question_data(bank(3), answers))
    assert page.status_code == 200
    assert message in field_errors(page, field)
    assert not SecurityQuestionsDevice.objects.filter(user=user).exists()
    for answer in answers:
        if answer.strip():
            assert f'value="{answer}"' not in page.text  # answers are never sent back


@pytest.mark.django_db
def test_the_same_question_twice_is_refused(tenant, user):
    client = in_nudge(tenant, user)
    first, second = bank(2)
    page = client.post(QUESTIONS, question_data([first, first, second], ["one", "two", "three"]))
    assert "別の質問を選択" in field_errors(page, "question_2")
    assert not SecurityQuestionsDevice.objects.filter(user=user).exists()


@pytest.mark.django_db
def test_questions_of_another_tenant_are_neither_offered_nor_accepted(tenant, other_tenant, user):
    ours = SecurityQuestion.objects.create(tenant=tenant, text_ja="社員番号の末尾は?", text_en="Our own question?")
    theirs = SecurityQuestion.objects.create(tenant=other_tenant, text_ja="他社の質問", text_en="Their question?")
    client = in_nudge(tenant, user, HTTP_ACCEPT_LANGUAGE="en")
    page = client.get(QUESTIONS)
    assert "Our own question?" in page.text and "Their question?" not in page.text

    first, second = bank(2)
    for tampered in (theirs.pk, 999999, "abc", ""):
        page = client.post(QUESTIONS, question_data([first, second, tampered], ["one", "two", "three"]))
        assert page.status_code == 200
        assert field_errors(page, "question_3")
        assert not SecurityQuestionsDevice.objects.filter(user=user).exists()
    client.post(QUESTIONS, question_data([first, second, ours], ["one", "two", "three"]))
    assert SecurityQuestionsDevice.objects.filter(user=user).exists()


@pytest.mark.django_db
def test_policy_decides_how_many_questions(make_tenant, make_user):
    five = make_tenant("five", questions_to_register=5)
    user = make_user(five, "five@five.example")
    client = in_nudge(five, user)
    page = client.get(QUESTIONS)
    assert 'name="question_5"' in page.text and 'name="question_6"' not in page.text
    page = client.post(QUESTIONS, question_data(bank(3), ["one", "two", "three"]))
    assert "質問を選択してください" in field_errors(page, "question_4")
    assert not SecurityQuestionsDevice.objects.filter(user=user).exists()


# --- Authenticator app -------------------------------------------------------------------------

@pytest.mark.django_db
def test_authenticator_with_qr_and_manual_key_then_code(tenant, user, caplog, tmp_path):
    caplog.set_level(logging.DEBUG)
    client = in_nudge(tenant, user, next_url="/security-info/")
    intro = client.get(AUTHENTICATOR)
    assert "認証アプリ" in intro.text and "次へ" in intro.text
    page, secret, account, png = scan_page(client)
    for wording in ("またはコードを手動で入力", "アカウント名", "秘密鍵", "次へ", 'data-copy-target="secret-key"'):
        assert wording in page.text
    assert account == user.email
    assert "<script>" not in page.text  # no inline script (CSP)

    # The QR decodes, with a real decoder, to exactly the URI of the secret on the page.
    device = services.pending_authenticator(user, client.session["recovery_authenticator_setup"]["device"])
    expected_uri = services.authenticator_uri(device)
    (decoded,) = zbar_decode(Image.open(io.BytesIO(png)))
    assert decoded.data.decode() == expected_uri
    (tmp_path / "qr.png").write_bytes(png)
    zbarimg = subprocess.run(["zbarimg", "--raw", "-q", str(tmp_path / "qr.png")], capture_output=True, text=True)
    assert zbarimg.stdout.strip() == expected_uri
    parsed = pyotp.parse_uri(expected_uri)
    assert parsed.secret.rstrip("=") == secret and parsed.issuer == "Demo Corporation"
    assert f"secret={secret}" in expected_uri and "digits=6" in expected_uri and "period=30" in expected_uri

    code_page = client.get(CODE)
    assert "6 桁のコード" in code_page.text and "※コードは30秒ごとに更新されます" in code_page.text
    code = pyotp.TOTP(secret).now()  # an independent TOTP implementation
    assert client.post(CODE, {"code": code})["Location"] == AUTHENTICATOR + "done/"
    done = client.get(AUTHENTICATOR + "done/")
    assert "認証アプリが正常に登録されました" in done.text and "完了" in done.text
    assert client.post(FINISH)["Location"] == "/security-info/"
    assert "_auth_user_id" in client.session

    confirmed = authenticator_device(user)
    assert confirmed is not None
    assert not services.verify_authenticator_code(confirmed, code)  # the same code twice: refused
    # The secret is never shown again, and never logged.
    assert client.get(SCAN)["Location"] == AUTHENTICATOR
    info = client.get("/security-info/")
    assert secret not in info.text and "認証アプリ" in info.text
    assert secret not in caplog.text and code not in caplog.text
    assert all(secret not in str(e.data) for e in AuditEvent.objects.all())


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("code", "message"),
    [("", "6 桁のコードを入力"), ("12a456", "数字"), ("１２３ａ５６", "数字"), ("12345", "6 桁で"),
     ("1234567", "6 桁で")],
)
def test_malformed_codes_get_a_message_next_to_the_field(tenant, user, code, message):
    client = in_nudge(tenant, user)
    scan_page(client)
    page = client.post(CODE, {"code": code})
    assert page.status_code == 200
    assert message in field_errors(page, "code")
    assert authenticator_device(user) is None
    assert client.session["recovery_authenticator_setup"]["failures"] == 0  # not a guess


@pytest.mark.django_db
def test_a_code_typed_in_full_width_digits_with_a_space_is_accepted(tenant, user):
    # Japanese phone keyboards often give full-width digits; sign-in and reset accept them too.
    client = in_nudge(tenant, user)
    _page, secret, _account, _png = scan_page(client)
    code = pyotp.TOTP(secret).now()
    typed = (code[:3] + "　" + code[3:]).translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    response = client.post(CODE, {"code": typed})
    assert response.status_code == 302
    assert authenticator_device(user) is not None


def wrong_code_for(secret):
    right = pyotp.TOTP(secret)
    now = time.time()
    taken = {right.at(now + drift * 30) for drift in (-1, 0, 1)}
    return next(f"{n:06d}" for n in range(1000000) if f"{n:06d}" not in taken)


@pytest.mark.django_db
def test_wrong_codes_then_a_new_secret_after_five(tenant, user):
    client = in_nudge(tenant, user)
    _page, secret, _account, _png = scan_page(client)
    wrong = wrong_code_for(secret)
    for _ in range(4):
        page = client.post(CODE, {"code": wrong})
        assert "コードが正しくありません" in field_errors(page, "code")
    assert authenticator_device(user) is None
    restarted = client.post(CODE, {"code": wrong})
    assert restarted["Location"] == SCAN
    page = client.get(SCAN)
    new_secret = re.search(r'data-copy-value="([A-Z2-7]+)"', page.text).group(1)
    assert new_secret != secret
    assert "間違ったコードが多すぎます" in page.text
    # The old secret is dead; the new one works.
    assert client.post(CODE, {"code": pyotp.TOTP(secret).now()}).status_code == 200
    device = services.pending_authenticator(user, client.session["recovery_authenticator_setup"]["device"])
    device.throttling_failure_timestamp = None  # the throttle's wait after that failure has passed
    device.save()
    assert client.post(CODE, {"code": pyotp.TOTP(new_secret).now()})["Location"] == AUTHENTICATOR + "done/"


@pytest.mark.django_db
def test_an_expired_setup_is_refused_next_to_the_field(tenant, user):
    client = in_nudge(tenant, user)
    _page, secret, _account, _png = scan_page(client)
    session = client.session
    session["recovery_authenticator_setup"]["started"] -= 16 * 60
    session.save()
    page = client.post(CODE, {"code": pyotp.TOTP(secret).now()})
    assert "有効期限" in field_errors(page, "code")
    assert authenticator_device(user) is None
    assert client.get(SCAN)["Location"] == AUTHENTICATOR


@pytest.mark.django_db
def test_the_session_holds_the_device_id_not_the_secret(tenant, user):
    client = in_nudge(tenant, user)
    _page, secret, _account, _png = scan_page(client)
    session_data = str(dict(client.session))
    assert secret not in session_data
    device = services.pending_authenticator(user, client.session["recovery_authenticator_setup"]["device"])
    assert device.key not in session_data


@pytest.mark.django_db
def test_mfa_nudge_registers_the_app_and_verifies_the_session(make_tenant, make_user):
    mfa = make_tenant("mfa", mfa_required=True)
    user = make_user(mfa, "shiro@mfa.example")
    client = in_nudge(mfa, user)
    _page, secret, _account, _png = scan_page(client)
    client.post(CODE, {"code": pyotp.TOTP(secret).now()})
    assert client.post(FINISH)["Location"] == "/"
    assert "_auth_user_id" in client.session
    assert client.session.get("otp_device_id") == authenticator_device(user).persistent_id


@pytest.mark.django_db
def test_pages_speak_english_with_the_same_flow(tenant, user):
    client = in_nudge(tenant, user, HTTP_ACCEPT_LANGUAGE="en")
    assert "Choose a method" in client.get("/security-info/methods/").text
    assert "Security questions" in client.get(QUESTIONS).text
    client.post(QUESTIONS, question_data(bank(3), ["one", "two", "three"]))
    assert "Your security questions were registered successfully" in client.get(QUESTIONS + "done/").text
    page, secret, _account, _png = scan_page(client)
    for wording in ("Or enter the code manually", "Account name", "Secret key", "Next"):
        assert wording in page.text
    assert "The code changes every 30 seconds" in client.get(CODE).text
    client.post(CODE, {"code": pyotp.TOTP(secret).now()})
    done = client.get(AUTHENTICATOR + "done/")
    assert "Authenticator app was registered successfully" in done.text and "Done" in done.text
