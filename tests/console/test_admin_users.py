"""Users in the admin: status list without N+1, actions, creation, CSV import and export."""

import os
import re
import threading
import time

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import User
from accounts.services import provision_user
from audit.models import AuditEvent
from recovery.models import RecoveryProfile, SecurityQuestionsDevice
from tests.support.admin import IMPORT, confirm, csv_file, preview, result_table

USERS = "/admin/accounts/user/"


def bulk_users(tenant, count, prefix="member"):
    users = User.objects.bulk_create(
        User(tenant=tenant, email=f"{prefix}{n:04d}@demo.example", name=f"Member {n}", password="!")
        for n in range(count)
    )
    RecoveryProfile.objects.bulk_create(
        RecoveryProfile(user=u, skip_count=n % 4) for n, u in enumerate(users)
    )
    TOTPDevice.objects.bulk_create(
        TOTPDevice(user=u, name="app", confirmed=True) for u in users[::3]
    )
    SecurityQuestionsDevice.objects.bulk_create(
        SecurityQuestionsDevice(user=u, name="q", confirmed=True) for u in users[::5]
    )
    return users


def list_queries(client):
    client.get(USERS)  # the first request of a session reads more (session, device)
    with CaptureQueriesContext(connection) as queries:
        page = client.get(USERS)
    assert page.status_code == 200
    return len(queries), page


@pytest.mark.django_db
def test_user_list_takes_constant_queries(admin_client, tenant):  # noqa: F811
    bulk_users(tenant, 10, prefix="few")
    few, _page = list_queries(admin_client)
    bulk_users(tenant, 1000)
    many, page = list_queries(admin_client)
    assert many == few
    assert many <= 15
    rows = result_table(page)
    assert rows.count("<tr") == 101  # header + a page of 100
    # Status columns are there: a ✓/✗ icon per method, skip counts.
    assert 'alt="True"' in rows and 'alt="False"' in rows


@pytest.mark.django_db
def test_user_list_filters_by_registration_status(admin_client, tenant, make_user):  # noqa: F811
    registered = make_user(tenant, "reg@demo.example")
    TOTPDevice.objects.create(user=registered, name="app", confirmed=True)
    skipped = make_user(tenant, "skip@demo.example")
    RecoveryProfile.objects.create(user=skipped, skip_count=2)
    make_user(tenant, "none@demo.example")

    def emails(query):
        found = set(re.findall(r"[\w.-]+@demo\.example", result_table(admin_client.get(USERS + query))))
        return found - {"boss@demo.example"}  # the admin (with an authenticator) is listed too

    assert emails("?registration=registered") == {"reg@demo.example"}
    assert emails("?registration=skipped") == {"skip@demo.example"}
    assert "none@demo.example" in emails("?registration=none")
    assert emails("?authenticator=yes") == {"reg@demo.example"}


@pytest.mark.django_db
def test_actions_reregister_and_deactivate(admin_client, tenant, make_user, org_admin):  # noqa: F811
    member = make_user(tenant, "member@demo.example")
    TOTPDevice.objects.create(user=member, name="app", confirmed=True)
    SecurityQuestionsDevice.objects.create(user=member, name="q", confirmed=True)
    for action in ("require_reregistration", "send_reminder", "unlock_reset"):
        response = admin_client.post(USERS, {"action": action, "_selected_action": [member.pk]})
        assert response.status_code == 302
    assert not TOTPDevice.objects.filter(user=member).exists()
    assert not SecurityQuestionsDevice.objects.filter(user=member).exists()
    assert AuditEvent.objects.filter(user=member, kind="methods.cleared_by_admin").exists()

    admin_client.post(USERS, {"action": "deactivate", "_selected_action": [member.pk, org_admin.pk]})
    member.refresh_from_db()
    org_admin.refresh_from_db()
    assert not member.is_active
    assert org_admin.is_active  # never yourself


@pytest.mark.django_db
def test_creating_a_user_provisions_them_in_the_admins_tenant(admin_client, tenant, other_tenant):  # noqa: F811
    response = admin_client.post(reverse("admin:accounts_user_add"), {
        "email": "New.Person@Demo.example", "name": "New Person", "language": "en",
        "is_active": "on", "tenant": other_tenant.pk, "is_superuser": "on",
    })
    assert response.status_code == 302
    user = User.objects.get(email="new.person@demo.example")
    assert user.tenant == tenant and not user.is_superuser
    assert not user.has_usable_password()  # set by the invitation
    assert user.emailaddress_set.filter(primary=True, verified=True).exists()
    again = admin_client.post(reverse("admin:accounts_user_add"), {
        "email": "NEW.person@demo.example", "language": "ja", "is_active": "on",
    })
    assert again.status_code == 200
    assert "This organisation already has a user with this e-mail address." in again.text


@pytest.mark.django_db
def test_org_admin_cannot_make_themselves_superuser(admin_client, org_admin):  # noqa: F811
    url = reverse("admin:accounts_user_change", args=[org_admin.pk])
    assert "is_superuser" not in admin_client.get(url).text
    admin_client.post(url, {"email": org_admin.email, "language": "en", "is_active": "on",
                            "is_staff": "on", "is_superuser": "on", "tenant": ""})
    org_admin.refresh_from_db()
    assert not org_admin.is_superuser and org_admin.tenant_id is not None


# --- CSV import ------------------------------------------------------------------------------

def rows(count, start=0):
    return "".join(f"user{n:04d}@demo.example,利用者 {n},ja,1\n" for n in range(start, start + count))


@pytest.mark.django_db
def test_import_of_1000_users_previews_then_creates_them(admin_client, tenant):  # noqa: F811
    page = preview(admin_client, csv_file("email,name,language,active\n" + rows(1000)))
    assert page.status_code == 200
    assert page.context["confirm_form"] is not None
    assert User.objects.filter(tenant=tenant).count() == 1  # the dry run changed nothing
    done = confirm(admin_client, page)
    assert done.status_code == 302
    assert User.objects.filter(tenant=tenant, email__startswith="user").count() == 1000
    user = User.objects.get(email="user0999@demo.example")
    assert user.name == "利用者 999" and user.language == "ja" and not user.has_usable_password()
    assert AuditEvent.objects.get(kind="users.imported").data["created"] == 1000


@pytest.mark.django_db
def test_a_bad_row_aborts_the_whole_import_with_its_line(admin_client, tenant):  # noqa: F811
    text = (
        "email,name,language,active\n" + rows(499)
        + "not-an-email,Bad,ja,1\n"  # line 501
        + rows(300, start=499)
        + "user0003@demo.example,Twice,ja,1\n"  # line 802: duplicate of line 5
        + "maybe@demo.example,Maybe,en,maybe\n"  # line 803
        + "fine@demo.example,Fine,fr,1\n"  # line 804
    )
    page = preview(admin_client, csv_file(text))
    assert page.status_code == 200 and page.context.get("confirm_form") is None
    errors = result_table_text(page)
    assert "Line 501" in errors and "valid email" in errors
    assert "Line 802" in errors and "already on line 5 of the file" in errors
    assert "Line 803" in errors and "Write 1 (active) or 0 (inactive)." in errors
    assert "Line 804" in errors and "Write one of: ja, en." in errors
    assert User.objects.filter(tenant=tenant).count() == 1


def result_table_text(page):
    return re.sub(r"<[^>]+>", " ", page.text)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_confirmed_import_is_all_or_nothing_when_data_changed_since_preview(admin_client, tenant):  # noqa: F811
    page = preview(admin_client, csv_file("email,name,language,active\n" + rows(20)))
    # Another admin adds user0010 while this import is confirmed: their transaction holds the
    # new row until this import reaches it (PostgreSQL makes it wait), then commits.
    added_elsewhere = threading.Event()

    def other_admin():
        try:
            with transaction.atomic():
                provision_user(tenant=tenant, email="user0010@demo.example", name="Theirs")
                added_elsewhere.set()
                time.sleep(1.5)
        finally:
            connection.close()

    other = threading.Thread(target=other_admin)
    other.start()
    assert added_elsewhere.wait(10)
    done = confirm(admin_client, page)
    other.join()
    assert done.status_code == 302
    assert "Nothing was imported" in admin_client.get(done["Location"]).text
    assert list(User.objects.filter(tenant=tenant, email__startswith="user").values_list("name", flat=True)) == ["Theirs"]
    assert not AuditEvent.objects.filter(kind="users.imported").exists()


@pytest.mark.django_db
def test_shift_jis_from_excel_is_accepted(admin_client, tenant):  # noqa: F811
    text = "email,name,language,active\r\nsato@demo.example,佐藤 太郎,ja,1\r\n"
    page = preview(admin_client, csv_file(text, encoding="cp932"))
    assert page.context["confirm_form"] is not None
    confirm(admin_client, page)
    assert User.objects.get(email="sato@demo.example").name == "佐藤 太郎"


@pytest.mark.django_db
@pytest.mark.parametrize(("content", "message"), [
    ("mail,fullname\nx@demo.example,X\n", "Wrong columns. Expected: email, name, language, active"),
    (b"\x00\x01\x02garbage\xff\xfe" * 100, "not a CSV text file"),
    (b"email\n\x81\x00", "not a CSV text file"),
    (bytes(range(0x80, 0x100)) * 50, "neither UTF-8 nor Shift_JIS"),
    (os.urandom(10 * 1024 * 1024), "The file is too large"),
    ("email,name\nx@demo.example,X,ja,1,extra\n", "The file could not be read as CSV."),
    ("email,name,language,active\n", "No valid data to import"),
    (b"", "The submitted file is empty."),
])
def test_bad_files_get_a_clear_message(admin_client, tenant, content, message):  # noqa: F811
    page = preview(admin_client, csv_file(content))
    assert page.status_code == 200
    assert message in page.text
    assert page.context.get("confirm_form") is None
    assert "Traceback" not in page.text
    assert User.objects.filter(tenant=tenant).count() == 1


# --- CSV export ------------------------------------------------------------------------------

@pytest.mark.django_db
def test_export_escapes_formulae_and_stays_in_the_tenant(admin_client, tenant, other_tenant, make_user):  # noqa: F811
    for n, name in enumerate(["=cmd|' /C calc'!A0", "+1+1", "-2+3", "@SUM(A1)", "普通の名前"]):
        make_user(tenant, f"x{n}@demo.example", name=name)
    make_user(other_tenant, "hidden@acme.example", name="=HYPERLINK(evil)")
    export = admin_client.get("/admin/accounts/user/export/")
    assert export.status_code == 200
    text = export.content.decode("utf-8")
    assert text.startswith("\ufeff")  # Excel reads it as UTF-8
    lines = text.lstrip("\ufeff").splitlines()
    assert lines[0] == "email,name,language,active,groups,registration"
    assert "x0@demo.example,'=cmd|' /C calc'!A0,ja,1,,none" in lines
    for escaped in ("'+1+1", "'-2+3", "'@SUM(A1)", "普通の名前"):
        assert any(escaped in line for line in lines)
    assert "acme" not in text and "HYPERLINK" not in text


@pytest.mark.django_db
def test_an_exported_file_imports_back_and_its_registration_column_is_ignored(admin_client, tenant, make_user):  # noqa: F811
    member = make_user(tenant, "member@demo.example", name="Member")
    TOTPDevice.objects.create(user=member, name="app", confirmed=True)
    export = admin_client.get("/admin/accounts/user/export/")
    lines = export.content.decode("utf-8-sig").splitlines()
    assert "member@demo.example,Member,ja,1,,registered" in lines
    # The admin edits a name and changes the status column (which no import can set).
    edited = export.content.decode("utf-8-sig").replace("Member,ja,1,,registered", "Renamed,ja,1,,none")
    page = preview(admin_client, csv_file(edited))
    assert page.context["confirm_form"] is not None
    assert confirm(admin_client, page).status_code == 302
    member.refresh_from_db()
    assert member.name == "Renamed"
    assert TOTPDevice.objects.filter(user=member, confirmed=True).exists()
    import_page = admin_client.get(IMPORT)
    assert "<code>email, name, language, active</code>" in import_page.text
    assert "email,name,language,active" in import_page.text and "ja, en" in import_page.text
