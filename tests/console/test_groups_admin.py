"""Groups in the organisation admin: each tenant's own, its members its own users; the
application page assigns them and maps them to app roles; the user CSV carries them."""

import re

import pytest

from accounts.models import TenantGroup, User
from sso.models import ClientAppRole
from tests.support.clients import PASSWORD
from tests.support.console import confirm_import, preview_import, verified_client
from tests.support.groups import groups_client, make_group

GROUPS = "/admin/accounts/tenantgroup/"
CLIENTS = "/admin/allauth_idp_oidc/client/"


@pytest.fixture
def org_admin(make_user, tenant):
    return make_user(tenant, "boss@demo.example", is_staff=True, language="en")


@pytest.fixture
def admin_client(org_admin):
    return verified_client(org_admin)


@pytest.fixture
def theirs(other_tenant, make_user):
    """The other tenant: a user and a group with a name to look for."""
    eve = make_user(other_tenant, "eve@acme.example", name="Eve Acme")
    return {"user": eve, "group": make_group(other_tenant, "Acme Secret Project", eve)}


def _text(page):
    return re.sub(r"<[^>]+>", " ", page.content.decode())


@pytest.mark.django_db
def test_an_admin_makes_a_group_of_their_own_users(admin_client, tenant, make_user, theirs):
    hanako = make_user(tenant, "hanako@demo.example")
    form = admin_client.get(f"{GROUPS}add/")
    assert form.status_code == 200
    assert "hanako@demo.example" in form.content.decode()
    assert "eve@acme.example" not in form.content.decode()
    response = admin_client.post(f"{GROUPS}add/", {"name": "営業部", "description": "",
                                                   "members": [hanako.pk]})
    assert response.status_code == 302
    group = TenantGroup.objects.get(name="営業部")
    assert group.tenant == tenant and list(group.members.all()) == [hanako]
    # The same name twice in one tenant: an error on the form, not a database error.
    again = admin_client.post(f"{GROUPS}add/", {"name": "営業部", "description": ""})
    assert again.status_code == 200 and "already has a group with this name" in again.content.decode()
    # A name the CSV column could not carry.
    bad = admin_client.post(f"{GROUPS}add/", {"name": "A;B", "description": ""})
    assert bad.status_code == 200 and not TenantGroup.objects.filter(name="A;B").exists()


@pytest.mark.django_db
def test_an_admin_cannot_see_or_fill_another_tenants_groups(admin_client, tenant, theirs):
    listing = admin_client.get(GROUPS)
    assert listing.status_code == 200 and "Acme Secret Project" not in listing.content.decode()
    assert admin_client.get(f"{GROUPS}{theirs['group'].pk}/change/").status_code == 404
    response = admin_client.post(f"{GROUPS}add/", {"name": "Mine", "description": "",
                                                    "members": [theirs["user"].pk]})
    assert response.status_code == 200  # not a valid choice
    assert not TenantGroup.objects.filter(name="Mine").exists()
    assert list(theirs["group"].members.all()) == [theirs["user"]]


def _client_form(client, **fields):
    data = {
        "name": client.name, "redirect_uris": "\n".join(client.get_redirect_uris()),
        "post_logout_uris": "", "allowed_scopes": ["openid", "groups"], "skip_consent": "on",
        "app_roles": "",
    }
    data.update(fields)
    return data


@pytest.mark.django_db
def test_an_application_is_assigned_and_maps_roles_from_the_tenants_groups(
        admin_client, tenant, make_user, theirs):
    hanako = make_user(tenant, "hanako@demo.example")
    sales = make_group(tenant, "Sales", hanako)
    client, _secret = groups_client(tenant, name="Wiki")
    url = f"{CLIENTS}{client.pk}/change/"
    page = admin_client.get(url).content.decode()
    assert "Only assigned users and groups" in page and "Sales" in page
    assert "Acme Secret Project" not in page and "eve@acme.example" not in page

    response = admin_client.post(url, _client_form(
        client, assignment_required="on", assigned_groups=[sales.pk], assigned_users=[hanako.pk],
        app_roles="Sales = editor\n\nSales=viewer\n",
    ))
    assert response.status_code == 302, _text(response)
    link = client.tenant_link
    link.refresh_from_db()
    assert link.assignment_required
    assert list(link.assigned_groups.all()) == [sales] and list(link.assigned_users.all()) == [hanako]
    assert sorted(ClientAppRole.objects.filter(client_link=link).values_list("role", flat=True)) == [
        "editor", "viewer"]
    assert "Sales = editor\nSales = viewer" in admin_client.get(url).content.decode()
    assert set(client.__class__.objects.get(pk=client.pk).get_scopes()) == {"openid", "groups"}

    # The other tenant's group and user are not choices; its group name maps no role.
    for refused in (
        {"assigned_groups": [theirs["group"].pk]},
        {"assigned_users": [theirs["user"].pk]},
        {"app_roles": "Acme Secret Project = admin"},
        {"app_roles": "just a role"},
    ):
        response = admin_client.post(url, _client_form(client, assignment_required="on", **refused))
        assert response.status_code == 200, refused
    assert list(link.assigned_groups.all()) == [sales] and list(link.assigned_users.all()) == [hanako]
    assert not ClientAppRole.objects.filter(group=theirs["group"]).exists()


# --- CSV ---------------------------------------------------------------------------------------

@pytest.mark.django_db
def test_the_user_csv_round_trips_groups(admin_client, tenant, make_user, theirs):
    hanako = make_user(tenant, "hanako@demo.example", name="Hanako")
    taro = make_user(tenant, "taro@demo.example", name="Taro")
    sales = make_group(tenant, "Sales", hanako)
    make_group(tenant, "経理", hanako)
    support = make_group(tenant, "Support")
    # A cross-tenant membership (never made by the admin): not exported.
    theirs["group"].members.add(hanako)

    export = admin_client.get("/admin/accounts/user/export/").content.decode("utf-8-sig")
    lines = export.splitlines()
    assert lines[0] == "email,name,language,active,groups,registration"
    assert "hanako@demo.example,Hanako,ja,1,Sales;経理,none" in lines
    assert "taro@demo.example,Taro,ja,1,,none" in lines
    assert "Acme" not in export

    # Back in with changes: hanako leaves 経理 and joins Support, taro joins Sales, a new user too.
    edited = (export.replace("Hanako,ja,1,Sales;経理", "Hanako,ja,1,Support; Sales")
              .replace("Taro,ja,1,", "Taro,ja,1,Sales") + "new@demo.example,New,en,1,Support\n")
    page = preview_import(admin_client, edited)
    assert page.context["confirm_form"] is not None, _text(page)
    assert set(sales.members.all()) == {hanako}  # the preview changed nothing
    assert confirm_import(admin_client, page).status_code == 302
    new = tenant.users.get(email="new@demo.example")
    assert set(sales.members.all()) == {hanako, taro}
    assert set(support.members.all()) == {hanako, new}
    assert not TenantGroup.objects.filter(name="経理", members=hanako).exists()
    assert theirs["group"].members.filter(pk=hanako.pk).exists()  # not the import's to touch

    again = admin_client.get("/admin/accounts/user/export/").content.decode("utf-8-sig")
    assert "hanako@demo.example,Hanako,ja,1,Sales;Support,none" in again.splitlines()


@pytest.mark.django_db
def test_an_unknown_group_name_is_an_error_and_nothing_is_imported(admin_client, tenant, make_user,
                                                                    theirs):
    hanako = make_user(tenant, "hanako@demo.example", name="Hanako")
    make_group(tenant, "Sales")
    text = ("email,name,language,active,groups\n"
            "hanako@demo.example,Hanako,ja,1,Sales\n"
            "taro@demo.example,Taro,ja,1,Slaes\n"
            "jiro@demo.example,Jiro,ja,1,Acme Secret Project\n")
    page = preview_import(admin_client, text)
    assert page.context.get("confirm_form") is None
    errors = _text(page)
    assert "No group of the organisation is called: Slaes" in errors
    assert "No group of the organisation is called: Acme Secret Project" in errors
    assert not TenantGroup.objects.filter(name="Slaes").exists()
    assert not tenant.users.filter(email="taro@demo.example").exists()
    assert not TenantGroup.objects.filter(tenant=tenant, members=hanako).exists()
    assert list(theirs["group"].members.all()) == [theirs["user"]]


@pytest.mark.django_db
def test_a_file_without_the_groups_column_leaves_groups_alone(admin_client, tenant, make_user):
    hanako = make_user(tenant, "hanako@demo.example", name="Hanako")
    sales = make_group(tenant, "Sales", hanako)
    page = preview_import(admin_client, "email,name,language,active\nhanako@demo.example,Renamed,ja,1\n")
    assert confirm_import(admin_client, page).status_code == 302
    hanako.refresh_from_db()
    assert hanako.name == "Renamed" and list(sales.members.all()) == [hanako]


# --- platform operators --------------------------------------------------------------------------

@pytest.fixture
def platform_client(db):
    root = User.objects.create_superuser("root@platform.example", PASSWORD, language="en")
    return verified_client(root, "localhost")


@pytest.mark.django_db
def test_a_platform_operator_cannot_mix_tenants_in_a_group_or_an_application(
        platform_client, tenant, make_user, theirs):
    hanako = make_user(tenant, "hanako@demo.example")
    response = platform_client.post(f"{GROUPS}add/", {
        "tenant": tenant.pk, "name": "Mixed", "description": "", "members": [hanako.pk, theirs["user"].pk],
    })
    assert response.status_code == 200
    assert "Members must be users of the group&#x27;s organisation." in response.content.decode()
    assert not TenantGroup.objects.filter(name="Mixed").exists()

    # An application's page offers the groups and users of the application's tenant only.
    client, _secret = groups_client(tenant, name="Wiki")
    url = f"{CLIENTS}{client.pk}/change/"
    page = platform_client.get(url)
    assert page.status_code == 200 and "hanako@demo.example" in page.content.decode()
    assert "Acme Secret Project" not in page.content.decode()
    response = platform_client.post(url, _client_form(
        client, assignment_required="on", assigned_groups=[theirs["group"].pk]))
    assert response.status_code == 200
    assert not client.tenant_link.assigned_groups.exists()
