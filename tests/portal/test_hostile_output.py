"""Text that tenants and users provide (organisation and people's names, custom questions, later
imported CSV rows) is shown escaped on every page, never as markup.

Every page that shows such text is one row of PAGES; new pages (nudge, questions, admin lists,
e-mails) add their rows when they land.
"""

import pytest

from recovery.models import SecurityQuestion
from tests.support.clients import client_for, sign_in

pytestmark = pytest.mark.django_db

MARKUP = '<script>alert("x")</script><img src=x onerror=alert(1)>'

# (page, signed in first)
PAGES = [
    ("/accounts/login/", False),
    ("/", True),
    ("/accounts/password/change/", True),
    ("/security-info/", True),
    ("/security-info/questions/", True),  # shows the tenant's custom questions too
]


@pytest.mark.parametrize("path, signed_in", PAGES)
def test_names_from_tenants_and_users_are_escaped(make_tenant, make_user, path, signed_in):
    tenant = make_tenant("evil", f"Evil {MARKUP} Inc.", nudge_enabled=False)
    person = make_user(tenant, "mallory@evil.example", name=f"Mallory {MARKUP}")
    SecurityQuestion.objects.create(tenant=tenant, text_ja=f"質問 {MARKUP}", text_en=f"Question {MARKUP}")
    client = client_for(tenant)
    if signed_in:
        assert sign_in(client, person.email).status_code == 302
    page = client.get(path)
    assert page.status_code == 200
    assert "Evil &lt;script&gt;" in page.text  # the name is there, as text
    assert "<script>alert" not in page.text and "<img src=x" not in page.text
    if path == "/security-info/questions/":
        assert "質問 &lt;script&gt;" in page.text  # the custom question is offered, as text


# Admin pages an organisation admin reads, after a CSV import of hostile names.
ADMIN_PAGES = [
    "/admin/accounts/user/",
    "/admin/recovery/securityquestion/",
    "/admin/audit/auditevent/",
    "/admin/report/",
]


@pytest.fixture
def imported_hostile_rows(tenant, make_user):
    from tests.support.admin import confirm, csv_file, preview, verified_client

    admin = make_user(tenant, "boss@demo.example", is_staff=True, name="Boss", language="en")
    client = verified_client(admin, tenant)
    page = preview(client, csv_file(
        "email,name,language,active\n"
        f'mallory@demo.example,"Mallory {MARKUP.replace(chr(34), chr(39))}",en,1\n'
    ))
    assert page.status_code == 200 and "confirm_form" in page.context
    confirm(client, page)
    SecurityQuestion.objects.create(tenant=tenant, text_ja=f"質問 {MARKUP}", text_en=f"Question {MARKUP}")
    return client


@pytest.mark.parametrize("path", ADMIN_PAGES)
def test_admin_pages_escape_imported_and_custom_text(imported_hostile_rows, path):
    from accounts.models import User

    assert User.objects.filter(email="mallory@demo.example", name__contains="<script>").exists()
    page = imported_hostile_rows.get(path)
    assert page.status_code == 200
    assert "<script>alert" not in page.text and "<img src=x" not in page.text
    if path == "/admin/accounts/user/":
        assert "Mallory &lt;script&gt;" in page.text
