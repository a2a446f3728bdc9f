"""The admin's lists as an attacker's oracle: query parameters that filter, sort or reference
fields the page never offers. Only the list filters, date drill-down and search an admin class
shows may be applied; anything else is 400, for an organisation admin and a superuser alike.
"""

import html
import re

import pytest
from django.contrib import admin
from django.contrib.admin.utils import get_fields_from_path
from django.urls import reverse

from accounts.models import User
from outbox.models import OutboxEmail
from tenants.models import TenantBranding, TenantPolicy
from tests.support.admin import result_table, verified_client
from tests.support.clients import PASSWORD

USERS = "/admin/accounts/user/"

# Field names that hold a secret or a hidden value, on any model an admin list reaches.
SECRET_FIELD_NAMES = {
    "password", "secret", "key", "session_key", "session_data", "answer_hash", "context",
    "dedupe_key", "hash", "token",
}


@pytest.fixture
def superuser_client(db):
    root = User.objects.create_superuser("root@platform.example", PASSWORD)
    return verified_client(root, "localhost")


def changelist(model):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")


# --- The hash-prefix oracle ------------------------------------------------------------------

HASH_PROBES = [
    "password__startswith=argon2",
    "password__istartswith=ARGON2",
    "password__regex=%5Eargon2",
    "password__contains=%24",
    "password__gte=argon2",
    "password=x",
    "password__in=x,y",
    "password__isnull=false",
    "PASSWORD__startswith=argon2",  # not a field name: refused too, not silently ignored
    # Through relations: the user behind a device, a session, an audit event.
    "totpdevice__key__startswith=0",
    "usersession__session_key__startswith=a",
    "recovery__user__password__startswith=argon2",
    "tenant__users__password__startswith=argon2",
]


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["org_admin", "superuser"])
def test_user_list_refuses_a_password_hash_prefix_filter(who, two_tenants, admin_client,  # noqa: F811
                                                       superuser_client):
    client = admin_client if who == "org_admin" else superuser_client
    victim = User.objects.get(email="demo-owner@demo.example")
    assert victim.password.startswith("argon2")
    for probe in HASH_PROBES:
        for url in (USERS, reverse("admin:accounts_user_export")):
            response = client.get(f"{url}?{probe}")
            assert response.status_code == 400, (probe, url, response.status_code)
            assert victim.email not in response.content.decode(), probe
    # Neither answer tells a matching prefix from a wrong one.
    right = client.get(USERS + "?password__startswith=argon2")
    wrong = client.get(USERS + "?password__startswith=pbkdf2")
    assert right.status_code == wrong.status_code == 400
    assert right.content == wrong.content


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["org_admin", "superuser"])
def test_other_hidden_fields_cannot_be_filtered_on(who, two_tenants, admin_client,  # noqa: F811
                                                 superuser_client):
    from allauth.idp.oidc.models import Client

    from audit.models import AuditEvent

    client = admin_client if who == "org_admin" else superuser_client
    probes = {
        # SSO client secrets (stored hashed: still a hash to brute-force offline).
        Client: ["secret__startswith=p", "secret__regex=.", "owner__password__startswith=a",
                 "token__hash__startswith=a"],
        # The outbox's context stays off the page (it may name what a link is for).
        OutboxEmail: ["context__icontains=how", "context__how=reset", "context__has_key=how",
                      "dedupe_key__startswith=a", "user__password__startswith=argon2",
                      "last_error__icontains=smtp"],
        AuditEvent: ["user__password__startswith=argon2", "user_agent__startswith=M",
                     "data__note__startswith=demo", "user__email__startswith=demo"],
    }
    for model, queries in probes.items():
        for query in queries:
            response = client.get(f"{changelist(model)}?{query}")
            assert response.status_code == 400, (model.__name__, query, response.status_code)
    export = client.get(reverse("admin:audit_auditevent_export") + "?user__password__startswith=a")
    assert export.status_code == 400
    # No admin page for sessions or authenticator devices (their data and keys) at all.
    for url in ("/admin/sessions/session/", "/admin/otp_totp/totpdevice/",
                "/admin/otp_static/staticdevice/", "/admin/usersessions/usersession/",
                "/admin/allauth_idp_oidc/token/"):
        assert client.get(url).status_code == 404, url


@pytest.mark.django_db
def test_changelist_references_and_sorting_never_reach_hidden_fields(two_tenants, admin_client):  # noqa: F811
    # _to_field names the field a pop-up returns: only keys other models point at.
    for query in ("_to_field=password", "_to_field=email", "_to_field=tenant__slug"):
        assert admin_client.get(f"{USERS}?{query}").status_code == 400, query
    # o= sorts by a shown column only; an index past the columns or junk is ignored.
    for query in ("o=99", "o=-0.1", "o=password", "o=1.x.-3"):
        assert admin_client.get(f"{USERS}?{query}").status_code == 200, query
    # Search covers e-mail and name, never the hash.
    found = admin_client.get(USERS + "?q=argon2")
    assert "demo-owner@demo.example" not in result_table(found)


def _reachable_fields(model, path):
    """Every field a lookup path (a__b__c) walks through, ignoring a trailing lookup."""
    fields = []
    for part in path.lstrip("^=@").split("__"):
        try:
            field = model._meta.get_field(part)
        except Exception:  # noqa: BLE001 - a lookup such as icontains, not a field
            break
        fields.append(field)
        if not field.is_relation:
            break
        model = field.related_model
    return fields


@pytest.mark.django_db
def test_no_admin_offers_a_secret_field_to_filter_search_or_sort():
    for model, model_admin in admin.site._registry.items():
        paths = list(model_admin.search_fields or ())
        if model_admin.date_hierarchy:
            paths.append(model_admin.date_hierarchy)
        for entry in model_admin.list_filter:
            if isinstance(entry, str):
                paths.append(entry)
            elif isinstance(entry, list | tuple):
                paths.append(entry[0])
            else:
                paths.append(getattr(entry, "field", "") or "")
        for column in model_admin.list_display:
            target = getattr(getattr(model_admin, column, None), "admin_order_field", None)
            paths.append(target or (column if isinstance(column, str) else ""))
        for path in filter(None, paths):
            for field in _reachable_fields(model, str(path).lstrip("-")):
                assert field.name not in SECRET_FIELD_NAMES, (model.__name__, path)


# --- What the admin offers still works ---------------------------------------------------------

def offered_links(page):
    """Every query-string link a changelist shows: filters, date drill-down, sorting, pages."""
    return sorted({html.unescape(href) for href in re.findall(r'href="(\?[^"]*)"', page.text)})


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["org_admin", "superuser"])
def test_every_filter_the_page_offers_still_works(who, two_tenants, admin_client,  # noqa: F811
                                                 superuser_client):
    client = admin_client if who == "org_admin" else superuser_client
    walked = 0
    for model in admin.site._registry:
        url = changelist(model)
        page = client.get(url)
        if model in (TenantPolicy, TenantBranding) and who == "org_admin":
            assert page.status_code == 302  # the list goes straight to the tenant's one row
            continue
        assert page.status_code == 200, model
        for link in offered_links(page):
            response = client.get(url + link)
            assert response.status_code == 200, (model.__name__, link, response.status_code)
            walked += 1
    assert walked > 20  # the walk did walk: filters of users, audit log and outbox at least

    # Each kind of filter narrows the list as it says.
    users = result_table(client.get(USERS + "?is_active__exact=1&registration=none"))
    assert "demo-owner@demo.example" in users
    inactive = result_table(client.get(USERS + "?is_active__exact=0"))
    assert "demo-owner@demo.example" not in inactive
    events = reverse("admin:audit_auditevent_changelist")
    owner = User.objects.get(email="demo-owner@demo.example")
    by_user = client.get(f"{events}?user__id__exact={owner.pk}&kind=signin.succeeded")
    assert "demo-owner@demo.example" in result_table(by_user)
    outbox = client.get(changelist(OutboxEmail) + "?state__exact=failed")
    assert "demo-owner@demo.example" in result_table(outbox)


def test_offered_lookups_follow_the_filters_fields():
    """The allowed parameters come from each filter's own field, so a date filter, a relation
    and a flag each allow their own shape and nothing beside it."""
    from audit.models import AuditEvent
    from console.admin.accounts import AuditEventAdmin

    model_admin = AuditEventAdmin(AuditEvent, admin.site)
    offered = model_admin.offered_lookups(None)
    target = get_fields_from_path(AuditEvent, "user")[-1].target_field.name
    assert {"kind", f"user__{target}__exact", "user__isnull", "created_at__gte",
            "created_at__lt", "created_at__year", "created_at__month",
            "created_at__day"} <= offered
    assert not {"user__email__exact", "user__password", "data", "user_agent"} & offered
