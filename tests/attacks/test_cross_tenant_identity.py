"""One address, two organisations: an e-mail address names a user within one tenant only.

The attack: an organisation admin adds a user, or imports a CSV, with an address from another
organisation, and learns from "already exists" that the address is someone's there. Now the
address simply becomes a separate user of the admin's own tenant (as in Okta orgs and Keycloak
realms), and everything that finds a user by address looks in the request's tenant only:
sign-in, reset, invitations, the admin's search and filters. Tenant A is demo.localhost (its
org admin drives the admin), tenant B is acme.localhost.
"""

import io
import re
import statistics
import time

import pytest
from allauth.account.models import EmailAddress
from allauth.core import context
from django.contrib.auth.hashers import make_password
from django.core.cache import cache
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction
from django.test import RequestFactory
from django.urls import reverse

import audit
from accounts.models import User
from accounts.notifications import invite_user
from accounts.services import provision_user
from audit.models import AuditEvent
from outbox.mail import build_message
from outbox.models import OutboxEmail
from sso.oidc import OIDCAdapter, register_client
from tenants.models import Tenant
from tests.support.admin import confirm, csv_file, preview, result_table
from tests.support.clients import PASSWORD, client_for, sign_in
from tests.support.reset import Page, answer, begin, register_questions, set_password

from .conftest import NEEDS_TWO_NODES

SHARED = "sato@freelance.example"
PASSWORD_B = "Other-orchard-lantern-58"
WRONG = "Not-the-password-17"
USERS = "/admin/accounts/user/"
ADD = "/admin/accounts/user/add/"
# What would tell tenant A's admin that the address lives elsewhere.
TELLS = ("acme", "already exists", "already in use", "already", "すでに", "既に")


def tells(response):
    text = response.content.decode().lower()
    return [tell for tell in TELLS if tell in text]


def signed_in_user_id(client):
    return client.session.get("_auth_user_id")


def form_errors(response):
    return response.context["form"].non_field_errors()


@pytest.fixture
def elsewhere(other_tenant, make_user):
    """Addresses that exist outside tenant A: an employee and the admin of B, a platform operator."""
    return {
        "employee": make_user(other_tenant, SHARED, password=PASSWORD_B, name="Sato in B"),
        "admin": make_user(other_tenant, "chief@b-corp.example", is_staff=True, name="Chief in B"),
        "operator": User.objects.create_superuser("root@platform.example", PASSWORD),
    }


@pytest.fixture
def twins(tenant, other_tenant, make_user):
    """The same address in A (password PASSWORD) and in B (PASSWORD_B); sign-in ends signed in."""
    for each in (tenant, other_tenant):
        each.policy.nudge_enabled = False
        each.policy.save()
    return (
        make_user(tenant, SHARED, name="Sato in A"),
        make_user(other_tenant, SHARED, password=PASSWORD_B, name="Sato in B"),
    )


def snapshot():
    return (
        list(User.objects.order_by("pk").values_list("pk", "tenant_id", "email", "name", "password")),
        list(EmailAddress.objects.order_by("pk").values_list("pk", "user_id", "email")),
        OutboxEmail.objects.count(),
        AuditEvent.objects.exclude(kind__startswith="signin.").count(),
    )


# --- The admin: adding and importing ------------------------------------------------------------

@pytest.mark.django_db
@pytest.mark.parametrize(("whose", "spelling"), [
    ("employee", str),
    ("employee", lambda email: f"  {email.upper()} "),
    ("admin", str.title),
    ("operator", str),
])
def test_an_org_admin_adds_an_address_of_another_tenant_as_a_user_of_their_own(
        admin_client, tenant, other_tenant, elsewhere, whose, spelling):  # noqa: F811
    theirs = elsewhere[whose]
    before = User.objects.values_list("pk", "tenant_id", "email", "name", "password").get(pk=theirs.pk)
    response = admin_client.post(ADD, {
        "email": spelling(theirs.email), "name": "Sato", "language": "ja", "is_active": "on",
    }, follow=True)
    assert response.redirect_chain, "the add form was shown again"
    assert tells(response) == []
    mine = User.objects.get(tenant=tenant, email=theirs.email)
    assert mine.pk != theirs.pk and mine.name == "Sato" and not mine.is_superuser
    assert User.objects.values_list("pk", "tenant_id", "email", "name", "password").get(pk=theirs.pk) == before
    assert mine.emailaddress_set.filter(email=theirs.email, primary=True, verified=True).exists()
    assert OutboxEmail.objects.filter(user=mine, tenant=tenant, kind="invite").exists()
    assert not OutboxEmail.objects.filter(user=theirs).exists()


@pytest.mark.django_db
def test_an_org_admin_imports_addresses_of_other_tenants_as_users_of_their_own(
        admin_client, tenant, elsewhere):  # noqa: F811
    spelled = [SHARED.upper(), "  chief@b-corp.example", "Root@Platform.Example"]
    text = "email,name,language,active\n" + "".join(
        f"{email},Imported {n},en,1\n" for n, email in enumerate(spelled))
    theirs_before = snapshot()[0]
    page = preview(admin_client, csv_file(text))
    assert page.status_code == 200 and page.context["confirm_form"] is not None
    assert tells(page) == []
    done = confirm(admin_client, page)
    assert done.status_code == 302
    assert tells(admin_client.get(done["Location"])) == []
    for n, theirs in enumerate(elsewhere.values()):
        mine = User.objects.get(tenant=tenant, email=theirs.email)
        assert mine.pk != theirs.pk and mine.name == f"Imported {n}" and mine.language == "en"
        assert OutboxEmail.objects.filter(user=mine, kind="invite").exists()
    # Every user outside A is as it was.
    assert [row for row in snapshot()[0] if row[1] != tenant.pk] == [
        row for row in theirs_before if row[1] != tenant.pk]


@pytest.mark.django_db
def test_a_duplicate_within_the_tenant_gets_a_clear_message_and_changes_nothing(
        admin_client, tenant, make_user, org_admin):  # noqa: F811
    existing = make_user(tenant, "kenta@demo.example", name="Kenta")
    other = make_user(tenant, "other@demo.example", name="Other")
    message = "This organisation already has a user with this e-mail address."
    before = snapshot()

    added = admin_client.post(ADD, {
        "email": " KENTA@demo.example", "name": "Imposter", "language": "ja", "is_active": "on",
    })
    assert added.status_code == 200
    assert message in added.context["adminform"].form.errors["email"]
    # Renaming another user to the address: the same.
    renamed = admin_client.post(reverse("admin:accounts_user_change", args=[other.pk]), {
        "email": "Kenta@Demo.Example", "name": "Other", "language": "ja", "is_active": "on",
    })
    assert renamed.status_code == 200
    assert message in renamed.context["adminform"].form.errors["email"]
    # The same address twice in one file.
    page = preview(admin_client, csv_file(
        "email,name,language,active\nnew@demo.example,New,ja,1\nNEW@demo.example,Twice,ja,1\n"))
    assert page.context.get("confirm_form") is None
    assert "This e-mail address is already on line 2 of the file." in page.text
    assert snapshot() == before
    existing.refresh_from_db()
    assert existing.name == "Kenta"


@pytest.mark.django_db
def test_a_row_with_an_address_of_the_tenant_updates_that_user_and_no_other(
        admin_client, tenant, other_tenant, make_user):  # noqa: F811
    mine = make_user(tenant, SHARED, name="Old name")
    theirs = make_user(other_tenant, SHARED, password=PASSWORD_B, name="Sato in B")
    page = preview(admin_client, csv_file(f"email,name,language,active\n{SHARED},New name,en,1\n"))
    assert tells(page) == []
    assert confirm(admin_client, page).status_code == 302
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert (mine.name, mine.language) == ("New name", "en")
    assert (theirs.name, theirs.language) == ("Sato in B", "ja")
    assert User.objects.filter(email=SHARED).count() == 2


@pytest.mark.django_db
def test_the_database_refuses_a_second_user_with_the_address_in_one_tenant(tenant, make_user):
    make_user(tenant, SHARED)
    users, addresses = User.objects.count(), EmailAddress.objects.count()
    with pytest.raises(IntegrityError), transaction.atomic():
        provision_user(tenant=tenant, email=f" {SHARED.upper()}")
    assert (User.objects.count(), EmailAddress.objects.count()) == (users, addresses)


@pytest.mark.django_db
def test_platform_operators_are_unique_among_themselves_and_apart_from_tenants(twins):
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create_superuser("Root@platform.example", PASSWORD)
        User.objects.create_superuser("root@platform.example", PASSWORD)
    # createsuperuser looks among platform operators only (the address is two tenants' users).
    call_command("createsuperuser", interactive=False, email=SHARED, verbosity=0)
    assert User.objects.filter(email=SHARED).count() == 3
    operator = User.objects.get(email=SHARED, tenant__isnull=True)
    assert operator.is_superuser
    # The natural key (fixtures, serialisation) names one user: the address within its tenant.
    for user in (*twins, operator):
        assert User.objects.get_by_natural_key(*user.natural_key()) == user


@pytest.mark.django_db
def test_seed_demo_gives_each_tenant_its_users_whatever_other_tenants_hold(make_tenant, make_user):
    early = make_tenant("early")
    make_user(early, "bob@acme.example", name="Bob at Early")
    make_user(early, "operator@platform.example", name="Not the operator")
    call_command("seed_demo", stdout=io.StringIO())
    assert User.objects.get(tenant__slug="acme", email="bob@acme.example").name == "Bob Builder"
    assert User.objects.get(tenant__isnull=True, email="operator@platform.example").is_superuser
    assert User.objects.get(tenant=early, email="bob@acme.example").name == "Bob at Early"
    assert sign_in(client_for("acme.localhost"), "bob@acme.example", "Demo-pass-2026").status_code == 302


@pytest.mark.django_db
def test_an_address_change_in_the_admin_carries_the_sign_in_and_the_oidc_claim(
        admin_client, tenant, twins):  # noqa: F811
    mine, theirs = twins
    response = admin_client.post(reverse("admin:accounts_user_change", args=[mine.pk]), {
        "email": "Sato.New@Freelance.example", "name": mine.name, "language": "ja", "is_active": "on",
    })
    assert response.status_code == 302
    assert list(mine.emailaddress_set.values_list("email", "primary", "verified")) == [
        ("sato.new@freelance.example", True, True)]
    assert list(theirs.emailaddress_set.values_list("email", flat=True)) == [SHARED]
    assert sign_in(client_for(tenant), "sato.new@freelance.example").status_code == 302
    assert sign_in(client_for(tenant), SHARED).status_code == 200


# --- Sign-in ----------------------------------------------------------------------------------

@pytest.mark.django_db
def test_each_of_two_users_with_one_address_signs_in_on_their_own_host_only(
        twins, tenant, other_tenant):
    mine, theirs = twins
    for host, password, expected in ((tenant, PASSWORD, mine), (other_tenant, PASSWORD_B, theirs)):
        client = client_for(host)
        assert sign_in(client, f" {SHARED.upper()}", password).status_code == 302
        assert signed_in_user_id(client) == str(expected.pk)
    for host, others_password in ((tenant, PASSWORD_B), (other_tenant, PASSWORD)):
        wrong = sign_in(client_for(host), SHARED, WRONG)
        refused = sign_in(client_for(host), SHARED, others_password)
        assert refused.status_code == wrong.status_code == 200
        assert signed_in_user_id(refused.client) is None
        assert form_errors(refused) and form_errors(refused) == form_errors(wrong)
        assert refused.content.decode().replace(others_password, "") == refused.content.decode()


@pytest.mark.django_db
def test_another_tenants_password_is_never_tried_here(twins, tenant):
    mine, theirs = twins
    # B's hash in an older format: Django re-hashes a password whose check succeeds, so a check
    # of B's password against B's hash (allauth's look-up across every tenant) would show.
    theirs.password = make_password(PASSWORD_B, hasher="pbkdf2_sha256")
    theirs.save(update_fields=["password"])
    stored = theirs.password
    assert sign_in(client_for(tenant), SHARED, PASSWORD_B).status_code == 200
    theirs.refresh_from_db()
    assert theirs.password == stored and theirs.last_login is None


@pytest.mark.slow  # 25 sign-ins at the real hash cost
@pytest.mark.django_db
def test_an_address_not_of_this_tenant_costs_what_a_wrong_password_costs(
        twins, tenant, other_tenant, make_user):
    make_user(tenant, "only-here@freelance.example")
    make_user(other_tenant, "only-there@freelance.example", password=PASSWORD_B)
    attempts = {
        "wrong password": ("only-here@freelance.example", WRONG),
        "only in the other tenant": ("only-there@freelance.example", PASSWORD_B),
        "in no tenant": ("nobody@freelance.example", WRONG),
        "in both, wrong password": (SHARED, WRONG),
        "in both, the other's password": (SHARED, PASSWORD_B),
    }
    seconds = {name: [] for name in attempts}
    for _round in range(5):  # interleaved: a slow moment of the machine hits every kind alike
        for name, (email, password) in attempts.items():
            cache.clear()  # or the failed-attempt limit answers early, without a hash
            client = client_for(tenant)
            started = time.perf_counter()
            response = sign_in(client, email, password)
            seconds[name].append(time.perf_counter() - started)
            assert response.status_code == 200 and signed_in_user_id(client) is None
    medians = {name: statistics.median(times) for name, times in seconds.items()}
    baseline = medians["wrong password"]
    # One password hash each (about 0.1 s); two hashes, as a check of both tenants' users
    # took, would be twice the baseline.
    assert all(0.67 < median / baseline < 1.5 for median in medians.values()), medians


@pytest.mark.django_db
def test_the_other_tenants_password_counts_as_a_wrong_one_here_and_nowhere_else(
        twins, tenant, other_tenant):
    mine, theirs = twins
    for _attempt in range(5):
        assert sign_in(client_for(tenant), SHARED, PASSWORD_B).status_code == 200
    # Five wrong passwords for A's user: A's user is held back like after any five...
    locked = sign_in(client_for(tenant, HTTP_ACCEPT_LANGUAGE="en"), SHARED, PASSWORD)
    assert "Too many failed sign-ins" in locked.content.decode()
    assert signed_in_user_id(locked.client) is None
    # ...and B's user, whose password it was, is not.
    there = client_for(other_tenant)
    assert sign_in(there, SHARED, PASSWORD_B).status_code == 302
    assert signed_in_user_id(there) == str(theirs.pk)


# --- Reset, invitations, OIDC -----------------------------------------------------------------

@pytest.mark.django_db
def test_a_reset_on_this_host_changes_this_hosts_user_only(twins, tenant, other_tenant, bank):  # noqa: F811
    mine, theirs = twins
    answers = register_questions(mine, bank[:3])
    register_questions(theirs, bank[3:6])
    theirs_signed_in = client_for(other_tenant)
    assert sign_in(theirs_signed_in, SHARED, PASSWORD_B).status_code == 302
    # Both users locked out of signing in on their own hosts (each from its own address, so the
    # per-address limit stays out of it).
    for host, address in ((tenant, "198.51.100.1"), (other_tenant, "198.51.100.2")):
        for _attempt in range(5):
            sign_in(client_for(host, REMOTE_ADDR=address), SHARED, WRONG)

    client = client_for(tenant)
    page = Page(begin(client, SHARED.upper()))
    assert page.questions and set(page.questions) <= set(answers)  # A's user's questions
    answer(client, page, answers)
    assert set_password(client, "Fresh-meadow-horizon-71").status_code == 302

    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert mine.check_password("Fresh-meadow-horizon-71")
    assert theirs.check_password(PASSWORD_B)
    assert theirs_signed_in.get("/").status_code == 200  # B's session lives on
    assert list(OutboxEmail.objects.filter(kind="password_changed").values_list("user", flat=True)) == [mine.pk]
    # The reset lifted A's user's lock-out, not B's user's.
    later = {"REMOTE_ADDR": "198.51.100.3"}
    assert sign_in(client_for(tenant, **later), SHARED, "Fresh-meadow-horizon-71").status_code == 302
    assert sign_in(client_for(other_tenant, **later), SHARED, PASSWORD_B).status_code == 200


@pytest.mark.django_db
def test_each_invitation_sets_the_password_of_its_own_tenants_user(tenant, other_tenant):
    mine = provision_user(tenant=tenant, email=SHARED, language="en")
    theirs = provision_user(tenant=other_tenant, email=SHARED, language="en")
    rows = {user.pk: invite_user(user) for user in (mine, theirs)}
    links = {
        pk: re.search(r"http://[^/\s]+/accounts/invite/\S+/", build_message(row).body).group(0)
        for pk, row in rows.items()
    }
    assert links[mine.pk].startswith("http://demo.localhost/")
    assert links[theirs.pk].startswith("http://acme.localhost/")
    mine_path = links[mine.pk].removeprefix("http://demo.localhost")
    # A's link on B's host is no link at all.
    on_b = client_for(other_tenant).get(mine_path, follow=True)
    assert "new_password1" not in on_b.content.decode()

    client = client_for(tenant)
    form_url = client.get(mine_path)["Location"]
    done = client.post(form_url, {"new_password1": "Brand-new-pass-7", "new_password2": "Brand-new-pass-7"})
    assert done.status_code == 302
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert mine.check_password("Brand-new-pass-7") and not theirs.has_usable_password()


@pytest.mark.django_db
def test_each_users_oidc_claims_carry_the_address_for_their_own_tenant(twins, tenant, other_tenant):
    scopes = ["openid", "email", "profile"]
    for user, host in zip(twins, (tenant, other_tenant), strict=True):
        client, _secret = register_client(tenant=host, name="App", redirect_uris=["https://app.example/cb"])
        # Userinfo answers on the tenant's own host only (sso.oidc.token_is_usable_here).
        request = RequestFactory().get("/identity/o/api/userinfo", HTTP_HOST=f"{host.slug}.localhost")
        request.tenant = host
        with context.request_context(request):
            adapter = OIDCAdapter()
            claims = adapter.get_claims("userinfo", user, client, scopes)
        assert claims["email"] == SHARED and claims["email_verified"] is True
        assert claims["tid"] == host.slug and claims["name"] == user.name
        assert claims["sub"] == adapter.get_user_sub(client, user)
        assert adapter.get_user_by_sub(client, claims["sub"]) == user


# --- The admin's search and filters -------------------------------------------------------------

@pytest.mark.django_db
def test_the_admins_search_and_filters_show_this_tenants_user_only(admin_client, twins):  # noqa: F811
    mine, theirs = twins
    audit.record("signin.succeeded", user=mine)
    for _event in range(3):
        audit.record("signin.succeeded", user=theirs)
    invite_user(mine)
    invite_user(theirs)
    theirs_url = reverse("admin:accounts_user_change", args=[theirs.pk])
    for url, rows in [
        (f"{USERS}?q={SHARED}", 1),
        (f"{USERS}?q=freelance", 1),
        (f"{USERS}?q=Sato", 1),
        (f"/admin/audit/auditevent/?q={SHARED}", 1),
        (f"/admin/audit/auditevent/?user__id__exact={theirs.pk}", 0),
        (f"/admin/outbox/outboxemail/?q={SHARED}", 1),
    ]:
        page = admin_client.get(url, follow=True)
        assert page.status_code == 200, url
        assert max(result_table(page).count("<tr") - 1, 0) == rows, url
        assert theirs_url not in page.text and "Sato in B" not in page.text, url
    # The audit log's user filter offers A's user, never B's.
    choices = admin_client.get("/admin/audit/auditevent/").text
    assert f"user__id__exact={mine.pk}" in choices and f"user__id__exact={theirs.pk}" not in choices
    assert admin_client.get(theirs_url).status_code == 404


# --- Data carried forward ---------------------------------------------------------------------

@pytest.mark.django_db(transaction=True)
def test_the_migration_keeps_every_user_and_lets_tenants_share_an_address():
    """From the schema before (an address unique portal-wide, allauth's portal-wide verified
    index) to the one after: every row stays as it was, and the new rules hold."""
    from django.db.models import Q, UniqueConstraint

    call_command("migrate", "accounts", "0002", verbosity=0)
    try:
        with connection.schema_editor() as editor:  # as allauth made it with ACCOUNT_UNIQUE_EMAIL
            editor.add_constraint(EmailAddress, UniqueConstraint(
                fields=["email"], condition=Q(verified=True), name="unique_verified_email"))
        a = Tenant.objects.create(slug="old-a", name="Old A")
        b = Tenant.objects.create(slug="old-b", name="Old B")
        with connection.cursor() as cursor:  # the old schema's rows, written as it allowed
            for tenant, email in ((a, "one@old.example"), (b, "two@old.example"), (None, "root@old.example")):
                cursor.execute(
                    "INSERT INTO accounts_user (password, email, name, tenant_id, language, is_active,"
                    " is_staff, is_superuser, date_joined) VALUES (%s, %s, '', %s, 'ja', %s, %s, %s, %s)",
                    ["x" + email, email, tenant.pk if tenant else None, True, tenant is None,
                     tenant is None, "2026-01-01T00:00:00Z"])
        # Only the columns the old schema had (later migrations add more).
        for user in User.objects.only("pk", "email"):
            EmailAddress.objects.create(user=user, email=user.email, primary=True, verified=True)
        before = list(User.objects.order_by("pk").values_list("pk", "email", "tenant_id", "password"))
    finally:
        # Every app forward: migrations that depend on accounts' later ones were unapplied too.
        call_command("migrate", verbosity=0)
    assert list(User.objects.order_by("pk").values_list("pk", "email", "tenant_id", "password")) == before
    # Tenant B gets A's address as a separate, verified user; A still cannot have it twice, nor
    # can the platform operators.
    provision_user(tenant=b, email="one@old.example")
    with pytest.raises(IntegrityError), transaction.atomic():
        provision_user(tenant=a, email="one@old.example")
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create_superuser("root@old.example")


# --- The compat entries -----------------------------------------------------------------------

def test_allauths_unique_email_finding_is_dropped_and_nothing_else():
    from allauth.account import checks as allauth_checks
    from django.core import checks
    from django.core.checks.registry import registry

    from accounts.checks import UNIQUE_EMAIL_FINDING, allauth_settings_check

    # allauth still reports it word for word (else accounts/checks.py no longer matches it)...
    assert [f.msg for f in allauth_checks.settings_check(None)] == [UNIQUE_EMAIL_FINDING]
    # ...the portal's checks do not, and run allauth's in its place.
    assert allauth_checks.settings_check not in registry.registered_checks
    assert allauth_settings_check in registry.registered_checks
    assert UNIQUE_EMAIL_FINDING not in [f.msg for f in checks.run_checks()]
    call_command("check", fail_level="WARNING")


def test_allauths_other_findings_still_come_through(settings):
    from accounts.checks import allauth_settings_check

    settings.ACCOUNT_MAX_EMAIL_ADDRESSES = 0
    assert [f.msg for f in allauth_settings_check(None)] == [
        "ACCOUNT_MAX_EMAIL_ADDRESSES must be None or > 0"]


# --- Two real web nodes -------------------------------------------------------------------------

def login_page_without_token(response):
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", response.text)


class TestOnTwoNodes:
    pytestmark = NEEDS_TWO_NODES

    def test_each_host_checks_its_own_user_on_any_node_whatever_the_host_spelling(
            self, twins, tenant, other_tenant, two_nodes, browser_for):
        mine, theirs = twins
        first, second = two_nodes
        spellings = ("demo.localhost", "DEMO.localhost", "demo.localhost:80", "demo.localhost.")
        for host, node in zip(spellings, (first, second, first, second), strict=True):
            cache.clear()  # the nodes' Redis: no answer below may be the failed-attempt limit's
            wrong = browser_for(host).sign_in(node, SHARED, WRONG)
            others = browser_for(host).sign_in(second if node is first else first, SHARED, PASSWORD_B)
            assert others.status_code == wrong.status_code == 200, host
            assert "Too many" not in others.text
            assert login_page_without_token(others) == login_page_without_token(wrong), host
        cache.clear()
        for host, password, node, name in (("demo.localhost", PASSWORD, first, mine.name),
                                           ("acme.localhost", PASSWORD_B, second, theirs.name)):
            browser = browser_for(host)
            assert browser.sign_in(node, SHARED, password).status_code == 302
            home = browser.get(first if node is second else second, "/")  # the other node
            assert home.status_code == 200 and name in home.text
