"""Tenant branding: an org admin's logo, accent colour and sign-in text on every page and e-mail
of their organisation, and nothing an attacker could smuggle through them.

The admin uploads files that every visitor's browser renders: only raster pictures are taken,
re-encoded (metadata and trailing bytes gone), size-limited, and served so that a browser never
treats them as a page. A colour that makes white button text unreadable is refused.
"""

import io
import re

import pytest
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice
from PIL import Image

from accounts.notifications import notify_password_changed
from outbox.mail import build_message
from outbox.models import OutboxEmail
from tenants.branding import contrast_ratio
from tenants.models import TenantBranding
from tests.support.clients import client_for

BRANDING = "/admin/tenants/tenantbranding/"


def png(size=(600, 300), colour=(200, 30, 30), text_chunk=None):
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    if text_chunk:
        info.add_text("Comment", text_chunk)
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, format="PNG", pnginfo=info)
    return out.getvalue()


def upload(name, content, content_type="image/png"):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, content, content_type=content_type)


@pytest.fixture
def org_admin(make_user, tenant):
    return make_user(tenant, "boss@demo.example", is_staff=True, language="en")


@pytest.fixture
def admin_browser(org_admin, tenant):
    device = TOTPDevice.objects.create(user=org_admin, name="Authenticator app", confirmed=True)
    browser = client_for(tenant, HTTP_ACCEPT_LANGUAGE="en")
    browser.force_login(org_admin)
    session = browser.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return browser


def branding_form_url(browser):
    response = browser.get(BRANDING)
    assert response.status_code == 302
    return response["Location"]


def save_branding(browser, **fields):
    data = {"accent_colour": "#0067b8", "sign_in_text": "", **fields}
    return browser.post(branding_form_url(browser), data)


def test_the_logo_colour_and_sign_in_text_show_on_the_sign_in_page_and_in_e_mails(
        admin_browser, tenant, user):
    response = save_branding(admin_browser, logo=upload("logo.png", png()), accent_colour="#8a1538",
                             sign_in_text="Accounts: IT desk, ext. 1234\n<b>not bold</b>")
    assert response.status_code == 302, response.content.decode()[:2000]
    page = client_for(tenant).get("/accounts/login/").content.decode()
    logo_url = re.search(r'<img class="brand-logo" src="([^"]+)"', page).group(1)
    assert logo_url.startswith("/branding/logo.png?v=")
    assert "Accounts: IT desk, ext. 1234<br>&lt;b&gt;not bold&lt;/b&gt;" in page
    theme_url = re.search(r'<link rel="stylesheet" href="(/branding/theme.css[^"]+)"', page).group(1)
    theme = client_for(tenant).get(theme_url)
    assert theme["Content-Type"].startswith("text/css") and "--accent: #8a1538" in theme.content.decode()

    notify_password_changed(user)
    # The e-mail as the worker renders it from its outbox row.
    row = OutboxEmail.objects.get(user=user, kind="password_changed")
    html = build_message(row).alternatives[0][0]
    assert f'src="http://demo.localhost{logo_url}"' in html
    assert "#8a1538" in html


def test_the_logo_is_served_re_encoded_and_never_as_a_page(admin_browser, tenant):
    hidden = "<script>alert(1)</script>"
    save_branding(admin_browser, logo=upload("logo.png", png(text_chunk=hidden) + b"<html>trailing"))
    response = client_for(tenant).get("/branding/logo.png?v=1")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response["Content-Security-Policy"]
    served = response.content
    assert b"<script>" not in served and b"trailing" not in served
    with Image.open(io.BytesIO(served)) as image:
        assert image.format == "PNG" and image.size == (320, 160)  # fitted into 480 × 160


@pytest.mark.parametrize("name, content, content_type, message", [
    ("logo.svg", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
     "image/svg+xml", "not a picture the portal can read"),
    ("logo.png", b"<html><script>alert(1)</script></html>", "image/png", "not a picture the portal can read"),
    ("logo.png", png(size=(4000, 4000)), "image/png", "4000 × 4000 pixels"),
    ("logo.png", b"\x89PNG" + b"0" * (600 * 1024), "image/png", "larger than 512 KB"),
])
def test_a_file_that_is_not_a_small_raster_picture_is_refused_and_changes_nothing(
        admin_browser, tenant, name, content, content_type, message):
    response = save_branding(admin_browser, logo=upload(name, content, content_type),
                             accent_colour="#004e8c")
    assert response.status_code == 200
    assert message in response.content.decode()
    branding = TenantBranding.objects.get(tenant=tenant)
    assert branding.logo_version == 0 and branding.accent_colour == "#0067b8"
    assert client_for(tenant).get("/branding/logo.png").status_code == 404


def test_an_unreadable_accent_colour_is_refused_with_its_contrast(admin_browser, tenant):
    response = save_branding(admin_browser, accent_colour="#ffd700")
    assert response.status_code == 200
    assert "contrast of 1.4:1" in response.content.decode()
    assert TenantBranding.objects.get(tenant=tenant).accent_colour == "#0067b8"
    assert round(contrast_ratio("#0067b8", "#ffffff"), 1) >= 4.5


def test_one_tenants_branding_never_shows_or_changes_at_another(admin_browser, tenant, other_tenant):
    save_branding(admin_browser, logo=upload("logo.png", png()), sign_in_text="Demo only")
    page = client_for(other_tenant).get("/accounts/login/").content.decode()
    assert "brand-logo" not in page and "Demo only" not in page
    assert client_for(other_tenant).get("/branding/logo.png").status_code == 404
    theirs = TenantBranding.objects.get(tenant=other_tenant)
    response = admin_browser.post(f"{BRANDING}{theirs.pk}/change/", {"accent_colour": "#000000"})
    assert response.status_code == 404  # not one of this admin's objects
    theirs.refresh_from_db()
    assert theirs.accent_colour == "#0067b8"


def test_removing_the_logo(admin_browser, tenant):
    save_branding(admin_browser, logo=upload("logo.png", png()))
    assert client_for(tenant).get("/branding/logo.png").status_code == 200
    save_branding(admin_browser, remove_logo="on")
    assert client_for(tenant).get("/branding/logo.png").status_code == 404
    assert "brand-logo" not in client_for(tenant).get("/accounts/login/").content.decode()
