"""Every registration page fits a 360 px phone screen and labels its fields (real Chromium)."""

import shutil
from pathlib import Path

import pyotp
import pytest

from recovery import services

from .conftest import client_for, sign_in
from .test_nudge import NUDGE, fast_hashing  # noqa: F401 - autouse fixture
from .test_registration import AUTHENTICATOR, CODE, QUESTIONS, bank, question_data, scan_page

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed"),
]


def registration_pages(tenant, user, language):
    """(name, html) of each page of the flows, as the browser would receive them."""
    client = client_for(tenant, HTTP_ACCEPT_LANGUAGE=language)
    sign_in(client, user.email)
    pages = [("nudge", client.get(NUDGE)), ("picker", client.get("/security-info/methods/"))]
    pages.append(("questions-errors", client.post(QUESTIONS, question_data(bank(3), ["", "ab", "ab"]))))
    pages.append(("authenticator-intro", client.get(AUTHENTICATOR)))
    scan, secret, _account, _png = scan_page(client)
    pages.append(("scan", scan))
    pages.append(("code-error", client.post(CODE, {"code": "12a"})))
    client.post(CODE, {"code": pyotp.TOTP(secret).now()})
    pages.append(("done", client.get(AUTHENTICATOR + "done/")))
    client.post("/security-info/finish/")
    services.register_security_questions(user, {q: f"answer {i}" for i, q in enumerate(bank(3))})
    pages.append(("security-info", client.get("/security-info/")))
    for name, response in pages:
        assert response.status_code == 200, name
    return [(name, response.text) for name, response in pages]


@pytest.mark.django_db
@pytest.mark.parametrize("language", ["ja", "en"])
def test_pages_fit_a_phone_and_label_every_field(tenant, user, language, tmp_path):
    from playwright.sync_api import sync_playwright

    static = (ROOT / "static").as_uri()
    files = []
    for name, text in registration_pages(tenant, user, language):
        path = tmp_path / f"{name}.html"
        path.write_text(text.replace('"/static/', f'"{static}/'), encoding="utf-8")
        files.append((name, path))

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 360, "height": 740})
        for name, path in files:
            page.goto(path.as_uri())
            assert page.evaluate("getComputedStyle(document.body).margin") == "0px", "CSS loaded"
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 360, f"{name} is {width}px wide at 360px"
            assert page.locator("h1").count() == 1, name
            assert page.title(), name
            unlabelled = page.evaluate(
                """[...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
                   .filter(el => !el.labels || el.labels.length === 0).map(el => el.name)"""
            )
            assert unlabelled == [], f"{name}: fields without a label {unlabelled}"
        browser.close()
