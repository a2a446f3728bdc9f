"""The admin site: who gets in, and that tenant A's admin never reaches tenant B's rows."""


import pytest
from django.contrib import admin
from django.urls import NoReverseMatch, reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import User
from audit.models import AuditEvent
from console.scoping import TenantScopedAdmin
from outbox.models import OutboxEmail
from recovery.models import SecurityQuestion
from sso.models import BackchannelLogout
from tenants.models import Tenant, TenantBranding, TenantPolicy
from tests.support.admin import result_table, verified_client
from tests.support.clients import PASSWORD, client_for, sign_in

# --- Access ----------------------------------------------------------------------------------

@pytest.mark.django_db
def test_verified_org_admin_enters_their_tenants_admin(admin_client):
    page = admin_client.get("/admin/")
    assert page.status_code == 200
    assert "/admin/accounts/user/" in page.text
    assert "/admin/report/" in page.text


@pytest.mark.django_db
def test_admin_without_a_code_this_session_is_sent_to_the_step_up_page(org_admin, tenant):
    TOTPDevice.objects.create(user=org_admin, name="Authenticator app", confirmed=True)
    client = client_for(tenant)
    client.force_login(org_admin)  # password only: no code entered in this session
    first = client.get("/admin/")
    assert first.status_code == 302
    second = client.get(first["Location"])
    assert second.status_code == 302
    assert second["Location"] == reverse("accounts_otp_verify") + "?next=/admin/"
    assert client.get("/admin/accounts/user/").status_code == 302
    assert client.get("/admin/report/").status_code == 302


@pytest.mark.django_db
def test_anonymous_visitor_is_sent_to_the_portal_sign_in(tenant):
    client = client_for(tenant)
    login = client.get("/admin/login/?next=/admin/accounts/user/")
    assert login.status_code == 302
    assert login["Location"] == "/accounts/login/?next=/admin/accounts/user/"
    # An outside next URL is dropped (no open redirect).
    assert "evil" not in client.get("/admin/login/?next=https://evil.example/")["Location"]


@pytest.mark.django_db
def test_signed_in_employee_is_refused_without_a_redirect_loop(user, tenant):
    client = verified_client(user, tenant)
    first = client.get("/admin/")
    assert first.status_code == 302
    assert client.get(first["Location"]).status_code == 403


@pytest.mark.django_db
def test_admin_of_another_tenant_cannot_sign_in_or_enter_here(org_admin, tenant, other_tenant):
    assert sign_in(client_for(other_tenant), org_admin.email, PASSWORD).status_code == 200
    # Even with a session carried over, B's host does not let A's admin in: the session is
    # A's, so here it is signed out (tests/attacks/test_sessions.py).
    client = verified_client(org_admin, other_tenant)
    first = client.get("/admin/")
    assert first.status_code == 302
    assert client.get(first["Location"])["Location"].startswith("/accounts/login/")
    assert client.get("/admin/accounts/user/").status_code == 302


@pytest.mark.django_db
def test_superuser_enters_on_the_platform_host_only_with_a_code(db):
    root = User.objects.create_superuser("root@platform.example", PASSWORD)
    assert verified_client(root, "localhost").get("/admin/").status_code == 200
    unverified = client_for("localhost")
    unverified.force_login(root)
    assert unverified.get("/admin/").status_code == 302


@pytest.mark.django_db
def test_only_tenant_scoped_admins_are_registered():
    for model, model_admin in admin.site._registry.items():
        assert isinstance(model_admin, TenantScopedAdmin), model


# --- Tenant isolation: every registered admin, every URL ---------------------------------------

def url_or_none(name, *args):
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return None


def assert_no_acme(response, where):
    body = response.content.decode("utf-8", "replace").lower()
    assert "acme" not in body, f"tenant B leaks into {where}"


@pytest.mark.django_db
def test_admin_of_a_sees_nothing_of_b_through_any_admin_url(admin_client, two_tenants):
    mine, theirs = two_tenants
    registry = admin.site._registry
    assert set(registry) == set(theirs), "a new admin model needs rows in make_rows()"

    as_admin = admin_client.get("/admin/").wsgi_request
    for model, model_admin in registry.items():
        info = f"admin:{model._meta.app_label}_{model._meta.model_name}"
        # Lists, filters, search.
        for query in ("", "?q=cme", "?q=demo"):  # "cme": the echoed term must not match
            page = admin_client.get(reverse(f"{info}_changelist") + query, follow=True)
            assert page.status_code == 200, (model, query)
            assert_no_acme(page, f"{model.__name__} list {query}")
        # Object pages of B: 404, whatever the method.
        other = theirs[model]
        for view in ("change", "history", "delete"):
            url = reverse(f"{info}_{view}", args=[other.pk])
            assert admin_client.get(url).status_code == 404, (model, view)
            assert admin_client.post(url, {"post": "yes"}).status_code == 404, (model, view)
        # Add page (where allowed) shows no B choices.
        add = admin_client.get(reverse(f"{info}_add"))
        assert add.status_code == (200 if model_admin.has_add_permission(as_admin) else 403), model
        assert_no_acme(add, f"{model.__name__} add form")
        # Exports.
        export_url = url_or_none(f"{info}_export")
        if export_url:
            export = admin_client.get(export_url)
            assert export.status_code == 200, model
            assert export["Content-Type"].startswith("text/csv")
            assert_no_acme(export, f"{model.__name__} export")
        # Autocomplete from every relation of this model to a registered model.
        for field in model._meta.get_fields():
            if not (field.is_relation and field.concrete and field.related_model in registry):
                continue
            for term in ("", "cme"):
                response = admin_client.get("/admin/autocomplete/", {
                    "app_label": model._meta.app_label, "model_name": model._meta.model_name,
                    "field_name": field.name, "term": term,
                })
                assert response.status_code == 200, (model, field.name)
                assert_no_acme(response, f"autocomplete {model.__name__}.{field.name}")
        # Actions on B's primary key change nothing of B.
        for action in model_admin.get_actions(as_admin):
            admin_client.post(reverse(f"{info}_changelist"), {
                "action": action, "_selected_action": [other.pk], "post": "yes",
            })

    # The walk could fail: tenant A's own rows are visible where an org admin may look.
    users = admin_client.get(reverse("admin:accounts_user_changelist"))
    assert "demo-owner@demo.example" in users.text
    events = admin_client.get(reverse("admin:audit_auditevent_changelist"))
    assert "demo-owner@demo.example" in events.text
    autocomplete = admin_client.get("/admin/autocomplete/", {
        "app_label": "audit", "model_name": "auditevent", "field_name": "user", "term": "",
    })
    assert "demo-owner@demo.example" in autocomplete.text
    # B's rows survived every action.
    b_user = theirs[User]
    b_user.refresh_from_db()
    assert b_user.is_active
    assert OutboxEmail.objects.get(pk=theirs[OutboxEmail].pk).state == OutboxEmail.State.FAILED
    assert AuditEvent.objects.filter(pk=theirs[AuditEvent].pk).exists()


@pytest.mark.django_db
def test_platform_superuser_sees_every_tenant(two_tenants):
    root = User.objects.create_superuser("root@platform.example", PASSWORD)
    client = verified_client(root, "localhost")
    users = client.get(reverse("admin:accounts_user_changelist"))
    assert "acme-owner@acme.example" in users.text and "demo-owner@demo.example" in users.text
    tenants = client.get(reverse("admin:tenants_tenant_changelist"))
    assert "ACME Ltd." in tenants.text and "Demo Corporation" in tenants.text


@pytest.mark.django_db
def test_audit_events_cannot_be_added_changed_or_deleted_by_anyone(two_tenants, admin_client):
    mine, _theirs = two_tenants
    event = mine[AuditEvent]
    assert admin_client.get(reverse("admin:audit_auditevent_add")).status_code == 403
    change = reverse("admin:audit_auditevent_change", args=[event.pk])
    assert admin_client.post(change, {"kind": "signout"}).status_code == 403
    delete = reverse("admin:audit_auditevent_delete", args=[event.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    root = User.objects.create_superuser("root@platform.example", PASSWORD)
    platform = verified_client(root, "localhost")
    assert platform.post(delete, {"post": "yes"}).status_code == 403
    assert platform.post(change, {"kind": "signout"}).status_code == 403
    event.refresh_from_db()
    assert event.kind == "signin.succeeded"


@pytest.mark.django_db
def test_audit_log_filters_and_csv_export(two_tenants, admin_client):
    mine, _theirs = two_tenants
    url = reverse("admin:audit_auditevent_changelist")
    filtered = admin_client.get(url + "?kind=signin.succeeded")
    assert "demo-owner@demo.example" in result_table(filtered)
    assert "demo-owner@demo.example" not in result_table(admin_client.get(url + "?kind=signout"))
    by_date = admin_client.get(url + "?created_at__year=2000")
    assert "demo-owner@demo.example" not in result_table(by_date)
    export = admin_client.get(reverse("admin:audit_auditevent_export") + "?kind=signin.succeeded")
    text = export.content.decode("utf-8-sig")
    assert text.splitlines()[0] == "time,event,user,client address,details"
    assert "demo-owner@demo.example" in text and "demo event" in text


@pytest.mark.django_db
def test_policy_page_is_the_own_tenants_and_validates_ranges(admin_client, tenant):
    listing = admin_client.get(reverse("admin:tenants_tenantpolicy_changelist"))
    change = reverse("admin:tenants_tenantpolicy_change", args=[tenant.policy.pk])
    assert listing.status_code == 302 and listing["Location"] == change
    page = admin_client.get(change)
    assert "How many security questions each employee registers (3–5)." in page.text
    assert admin_client.get(reverse("admin:tenants_tenantpolicy_add")).status_code == 403
    form = {
        field: getattr(tenant.policy, field)
        for field in (
            "questions_to_register", "questions_to_answer", "methods_required_for_reset",
            "reconfirm_days", "reminder_interval_hours", "min_password_length",
            "reset_lock_threshold", "reset_lock_minutes", "reset_challenge_threshold", "time_zone",
        )
    }
    form.update(questions_enabled="on", authenticator_enabled="on", nudge_enabled="on")
    bad = admin_client.post(change, {**form, "questions_to_register": 3, "questions_to_answer": 5})
    assert bad.status_code == 200
    assert "cannot outnumber the questions registered" in bad.text
    out_of_range = admin_client.post(change, {**form, "questions_to_register": 9})
    assert "Ensure this value is less than or equal to 5." in out_of_range.text
    tenant.policy.refresh_from_db()
    assert tenant.policy.questions_to_register == 3
    assert "Enter a time zone name" in admin_client.post(change, {**form, "time_zone": "Tokyo"}).text
    good = admin_client.post(change, {**form, "questions_to_register": 4, "questions_to_answer": 4,
                                      "helpdesk_text": "IT: ext. 1234"})
    assert good.status_code == 302
    tenant.policy.refresh_from_db()
    assert tenant.policy.questions_to_answer == 4 and tenant.policy.helpdesk_text == "IT: ext. 1234"


@pytest.mark.django_db
def test_custom_questions_are_the_tenants_own_with_limits(admin_client, tenant):
    add = reverse("admin:recovery_securityquestion_add")
    created = admin_client.post(add, {"text_ja": "好きな色は？", "text_en": "Favourite colour?",
                                      "is_active": "on", "position": 1})
    assert created.status_code == 302
    question = SecurityQuestion.objects.get(text_en="Favourite colour?")
    assert question.tenant == tenant
    short = admin_client.post(add, {"text_ja": "色", "text_en": "Hue", "position": 1})
    assert short.status_code == 200 and "Write at least 3 characters." in short.text
    for n in range(19):
        SecurityQuestion.objects.create(tenant=tenant, text_ja=f"質問その{n}", text_en=f"Question {n}")
    full = admin_client.post(add, {"text_ja": "二十一番目の質問", "text_en": "Twenty-first?", "position": 1})
    assert "at most 20 custom questions" in full.text
    assert SecurityQuestion.objects.filter(tenant=tenant).count() == 20
    builtin = SecurityQuestion.objects.create(text_ja="生まれた町は？", text_en="Town of birth?")
    url = reverse("admin:recovery_securityquestion_change", args=[builtin.pk])
    assert admin_client.get(url).status_code == 404


@pytest.mark.django_db
def test_admin_labels_are_japanese_for_japanese_admins(org_admin, tenant):
    org_admin.language = "ja"
    org_admin.save()
    page = verified_client(org_admin, tenant).get(reverse("admin:accounts_user_changelist"))
    assert "登録状況" in page.text  # our filter title
    assert "ユーザー" in page.text


@pytest.mark.django_db
def test_every_admin_page_renders_for_both_kinds_of_admin(two_tenants, admin_client):
    mine, _theirs = two_tenants
    root = User.objects.create_superuser("root@platform.example", PASSWORD)
    platform = verified_client(root, "localhost")
    # (url, status for the platform superuser, status for the organisation admin)
    pages = [("/admin/", 200, 200), ("/admin/report/", 200, 200),
             ("/admin/accounts/user/import/", 403, 200)]  # users are imported into a tenant
    no_add = {TenantPolicy, TenantBranding, AuditEvent, OutboxEmail, BackchannelLogout}  # made with their tenant, or by the portal
    for model, obj in mine.items():
        info = f"admin:{model._meta.app_label}_{model._meta.model_name}"
        added = (403, 403) if model in no_add else (200, 403) if model is Tenant else (200, 200)
        pages += [(reverse(f"{info}_changelist"), 200, 200), (reverse(f"{info}_add"), *added),
                  (reverse(f"{info}_change", args=[obj.pk]), 200, 200),
                  (reverse(f"{info}_history", args=[obj.pk]), 200, 200)]
    for url, as_platform, as_org_admin in pages:
        assert platform.get(url, follow=True).status_code == as_platform, url
        assert admin_client.get(url, follow=True).status_code == as_org_admin, url
    assert admin_client.get("/admin/accounts/user/import/").status_code == 200
    # Japanese report page.
    root.language = "ja"
    root.save()
    report = platform.get("/admin/report/")
    assert "登録とリセットのレポート" in report.text


@pytest.mark.django_db
def test_failed_emails_are_visible_and_can_be_retried(two_tenants, admin_client):
    mine, _theirs = two_tenants
    email = mine[OutboxEmail]
    listing = admin_client.get(reverse("admin:outbox_outboxemail_changelist") + "?state=failed")
    assert "demo-owner@demo.example" in result_table(listing)
    detail = admin_client.get(reverse("admin:outbox_outboxemail_change", args=[email.pk]))
    assert "demo smtp down" in detail.text
    admin_client.post(reverse("admin:outbox_outboxemail_changelist"),
                      {"action": "retry", "_selected_action": [email.pk]})
    email.refresh_from_db()
    assert email.state == OutboxEmail.State.PENDING
