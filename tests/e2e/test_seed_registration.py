"""The seed's registration flows (SPEC A–D), walked by an employee in a real browser."""

import io
from urllib.parse import unquote, urlsplit

import pyotp
import pytest
from PIL import Image
from playwright.sync_api import expect
from pyzbar.pyzbar import decode as zbar_decode

from accounts.otp import authenticator_device
from audit.models import AuditEvent
from recovery import services
from recovery.models import SecurityAnswer

from .conftest import DESKTOP, PHONE
from .steps import NARROW, NUDGE, click, path_of, sign_in, sign_out

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("question_bank", "fast_hashing")]

DEEP = "/accounts/password/change/"
ANSWERS = ["Tokyo", "Mochi", "Blue whale"]


def test_1_skip_setup_goes_on_and_the_nudge_comes_back(open_page, shots, tenant, user):
    page, base = open_page(tenant, DESKTOP, "ja")
    sign_in(page, base, user.email, path=DEEP)
    assert path_of(page) == NUDGE
    expect(page.locator("h1")).to_have_text("アカウントのセキュリティ保護")
    shots(page, "nudge")

    click(page, "セットアップをスキップします")
    assert path_of(page) == DEEP  # where the employee was going
    expect(page.locator("header")).to_contain_text(user.email)
    shots(page, "destination")

    sign_out(page, "サインアウト")
    sign_in(page, base, user.email)
    assert path_of(page) == NUDGE
    expect(page.locator("main")).to_contain_text("セットアップをスキップします")
    shots(page, "nudge-again")


def test_2_security_questions_then_no_more_nudge(open_page, shots, tenant, user):
    page, base = open_page(tenant, DESKTOP, "ja")
    sign_in(page, base, user.email, path=DEEP)
    assert path_of(page) == NUDGE
    shots(page, "nudge")

    click(page, "別の方法を設定します")
    page.get_by_label("方法を選択します").select_option(label="秘密の質問")
    shots(page, "picker")
    click(page, "確認")
    expect(page.locator("h1")).to_have_text("秘密の質問")

    for number in (1, 2, 3):
        page.get_by_label(f"質問 {number}", exact=True).select_option(index=number)
        page.get_by_label(f"回答 {number}", exact=True).fill(ANSWERS[number - 1])
    page.get_by_label("回答 2", exact=True).fill("ab")  # too short: refused, said next to it
    click(page, "完了")
    expect(page.locator("#id_answer_2_error")).to_contain_text("3 文字以上")
    shots(page, "answer-too-short")
    assert not SecurityAnswer.objects.filter(device__user=user).exists()

    for number in (1, 2, 3):  # answers are never sent back: type them all again
        page.get_by_label(f"回答 {number}", exact=True).fill(ANSWERS[number - 1])
    shots(page, "questions")
    click(page, "完了")
    expect(page.get_by_role("status")).to_have_text("セキュリティの質問が正常に登録されました")
    shots(page, "registered")
    click(page, "完了")
    assert path_of(page) == DEEP
    assert SecurityAnswer.objects.filter(device__user=user).count() == 3

    sign_out(page, "サインアウト")
    sign_in(page, base, user.email, path=DEEP)
    assert path_of(page) == DEEP  # registered: straight through, no nudge
    shots(page, "next-sign-in")


def open_scan_page(page, base, user, intro_next="次へ"):
    """Sign in, take the nudge's authenticator "Next" to the page with the QR and manual key."""
    sign_in(page, base, user.email, path="/security-info/")
    assert path_of(page) == NUDGE
    click(page, intro_next)
    assert path_of(page) == "/security-info/authenticator/scan/"


def test_3_pc_shows_a_qr_code_the_phone_scans(open_page, shots, tenant, user):
    page, base = open_page(tenant, DESKTOP, "ja")
    open_scan_page(page, base, user)
    qr = page.locator("main img.qr")
    manual = page.locator("main section.manual")
    expect(manual.get_by_role("heading")).to_have_text("またはコードを手動で入力")
    shot = shots(page, "qr-and-manual-key")

    # On a PC the manual key stands beside the QR code, not under it.
    qr_box, manual_box = qr.bounding_box(), manual.bounding_box()
    assert manual_box["x"] >= qr_box["x"] + qr_box["width"]
    assert manual_box["y"] < qr_box["y"] + qr_box["height"]

    # The phone: a real QR decoder reads the picture the browser shows.
    (symbol,) = zbar_decode(Image.open(io.BytesIO(qr.screenshot())))
    uri = symbol.data.decode()
    totp = pyotp.parse_uri(uri)
    assert uri.startswith("otpauth://totp/")
    label = unquote(urlsplit(uri).path.lstrip("/"))
    assert label == f"{tenant.name}:{user.email}" and totp.issuer == tenant.name
    assert (totp.digits, totp.interval, totp.digest().name) == (6, 30, "sha1")
    assert shot.exists()

    click(page, "次へ")
    page.get_by_label("6 桁のコード").fill(str((int(totp.now()) + 1) % 1000000).zfill(6))
    click(page, "次へ")  # a wrong code: said so, and the employee may try again
    expect(page.locator("#id_code_error")).to_be_visible()
    shots(page, "wrong-code")
    page.wait_for_timeout(1100)  # django-otp throttles 1 s after a failure; a person is slower
    page.get_by_label("6 桁のコード").fill(totp.now())
    click(page, "次へ")
    expect(page.get_by_role("status")).to_have_text("認証アプリが正常に登録されました")
    shots(page, "registered")
    click(page, "完了")
    assert path_of(page) == "/security-info/"
    shots(page, "security-info")
    # The phone holds the very key of the employee's authenticator.
    assert services.authenticator_secret(authenticator_device(user)) == totp.secret


PHONE_TEXT = {
    "ja": {"manual": "またはコードを手動で入力", "account": "アカウント名", "secret": "秘密鍵",
           "next": "次へ", "code": "6 桁のコード", "done": "認証アプリが正常に登録されました"},
    "en": {"manual": "Or enter the code manually", "account": "Account name", "secret": "Secret key",
           "next": "Next", "code": "6-digit code", "done": "Authenticator app was registered successfully"},
}


@pytest.mark.parametrize("locale", ["ja", "en"])
def test_4_phone_only_enters_the_key_by_hand(open_page, shots, tenant, user, locale):
    text = PHONE_TEXT[locale]
    page, base = open_page(tenant, PHONE, locale)
    open_scan_page(page, base, user, intro_next=text["next"])
    heading = page.get_by_role("heading", name=text["manual"])
    heading.scroll_into_view_if_needed()
    expect(heading).to_be_in_viewport()
    shots(page, "manual-key")

    # What the employee reads off the screen and types into the app's "Other" account.
    terms = page.locator("section.manual dt")
    expect(terms).to_have_text([text["account"], text["secret"]])
    account = page.locator("section.manual dd").nth(0).inner_text().strip()
    secret = page.locator("section.manual dd").nth(1).locator(".secret").inner_text()
    assert account == user.email
    code = pyotp.TOTP(secret.replace(" ", "")).now()

    click(page, text["next"], tap=True)
    page.get_by_label(text["code"]).fill(code)
    shots(page, "code")
    click(page, text["next"])
    expect(page.get_by_role("status")).to_have_text(text["done"])
    shots(page, "registered")
    assert AuditEvent.objects.filter(user=user, kind="method.registered", data__method="authenticator").exists()


def test_every_registration_page_in_english_on_a_small_phone(open_page, shots, tenant, user):
    """The pages the scenarios above see only in Japanese, with their errors, at 360 px."""
    page, base = open_page(tenant, {**PHONE, "viewport": NARROW}, "en")
    sign_in(page, base, user.email, path="/security-info/")
    click(page, "Set up a different method", tap=True)
    page.get_by_label("Choose a method").select_option(label="Security questions")
    click(page, "Confirm", tap=True)
    click(page, "Done", tap=True)  # nothing chosen: every field says so
    expect(page.locator("main .errorlist")).to_have_count(6)
    shots(page, "questions-errors")
    click(page, "Back", tap=True)
    assert path_of(page) == NUDGE
    click(page, "Set up a different method", tap=True)
    page.get_by_label("Choose a method").select_option(label="Authenticator app")
    click(page, "Confirm", tap=True)
    expect(page.locator("main h2")).to_have_text("Authenticator app")
    shots(page, "authenticator-intro")
    click(page, "Next", tap=True)
    secret = page.locator("#secret-key").inner_text().replace(" ", "")
    click(page, "Next", tap=True)
    page.get_by_label("6-digit code").fill("12a")
    click(page, "Next", tap=True)
    expect(page.locator("#id_code_error")).to_be_visible()
    shots(page, "code-error")
    page.get_by_label("6-digit code").fill(pyotp.TOTP(secret).now())
    click(page, "Next", tap=True)
    click(page, "Done", tap=True)
    assert path_of(page) == "/security-info/"
    shots(page, "security-info")
