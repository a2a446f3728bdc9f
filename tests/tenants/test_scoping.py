"""One tenant-scoping mechanism (tenants.scoping) for every model with a tenant link.

Walks every installed model, finds those that reach a tenant through their foreign keys, and
proves for each: a query with no tenant in scope fails loudly; within tenant A's scope no row of
tenant B comes back; the models left unscoped are an explicit, justified list. Then the request
path: a signed-in admin page of tenant A never shows B's rows.
"""

import threading
from collections import deque

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.db.models import Count
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

import audit
from accounts.models import TenantGroup
from outbox.models import OutboxEmail
from recovery import services as recovery_services
from recovery.models import SecurityQuestion
from sso.access import save_assignment
from sso.models import BackchannelLogout
from sso.oidc import register_client
from tenants.models import Tenant
from tenants.scoping import (
    TenantScopedManager,
    TenantScopeError,
    all_tenants,
    platform_scope,
    tenant_scope,
)
from tests.support.clients import client_for

pytestmark = [pytest.mark.django_db, pytest.mark.tenant_scoping]

# Models with a tenant link that are deliberately not scoped, and why. Every other model with a
# link must use TenantScopedManager; the test below fails on an entry that is missing or stale.
UNSCOPED = {
    "tenants.TenantHost": "the host → tenant map that decides the scope: it is read before any "
    "scope exists (tenants.resolution); a host name is public (DNS), not tenant data",
    "admin.LogEntry": "Django admin's history: read only for an object the admin already found "
    "in its scope (history page) and the signed-in admin's own recent actions",
    "otp_totp.TOTPDevice": "django-otp's: always reached from a user in hand (devices_for_user, "
    "the session's own device); no admin page lists it (console.apps.UNSCOPED_LIBRARY_ADMINS)",
    "account.EmailAddress": "allauth's: read for a user in hand (claims, re-authentication); "
    "sign-in by address is TenantAuthenticationBackend's scoped look-up, reset is recovery's",
    "account.EmailConfirmation": "allauth's, under EmailAddress; the portal sends none",
    "usersessions.UserSession": "allauth's: filtered by the user in hand (accounts.usersessions); "
    "the daily purge is platform-wide by nature",
    "allauth_idp_oidc.Client": "allauth's OIDC client: its tenant is sso.TenantOIDCClient "
    "(scoped); every endpoint checks it against the host (sso.oidc.client_is_usable_here)",
    "allauth_idp_oidc.Token": "allauth's OIDC tokens: found by their hashed value, then their "
    "client and user are checked against the host (sso.oidc.token_is_usable_here)",
}


def _links(model):
    """Forward foreign keys and one-to-ones, and reverse one-to-ones (Client → tenant_link)."""
    for field in model._meta.get_fields():
        if not field.is_relation or field.related_model is None:
            continue
        if field.concrete and (field.many_to_one or field.one_to_one):
            yield field.name, field.related_model
        elif field.auto_created and field.one_to_one and not field.concrete:
            yield field.get_accessor_name(), field.related_model


def tenant_path(model, max_depth=4):
    """The shortest ORM path from `model` to Tenant through its links, or None."""
    queue = deque([(model, "")])
    seen = {model}
    while queue:
        current, path = queue.popleft()
        if path.count("__") >= max_depth:
            continue
        for name, related in _links(current):
            step = f"{path}__{name}" if path else name
            if related is Tenant:
                return step
            if related not in seen:
                seen.add(related)
                queue.append((related, step))
    return None


TENANT_LINKED = sorted(
    (m for m in apps.get_models() if m is not Tenant and tenant_path(m) is not None),
    key=lambda m: m._meta.label,
)
SCOPED = [m for m in TENANT_LINKED if isinstance(m._default_manager, TenantScopedManager)]


def _ids(models):
    return [m._meta.label for m in models]


def rows_by_tenant(model):
    """{tenant id: number of rows} of `model` over every tenant, through its declared lookup."""
    lookup = model._default_manager.tenant_lookup
    with all_tenants():
        rows = model._default_manager.values(lookup).annotate(n=Count("pk")).order_by()
        return {row[lookup]: row["n"] for row in rows}


# --- the walk ---------------------------------------------------------------------------------

def test_every_model_with_a_tenant_link_is_scoped_or_an_explained_exception():
    assert {"accounts.User", "audit.AuditEvent", "recovery.SecurityAnswer"} <= set(_ids(SCOPED))
    unscoped = {m._meta.label for m in TENANT_LINKED if m not in SCOPED}
    assert unscoped == set(UNSCOPED), (
        "A model with a tenant link needs objects = TenantScopedManager(...), or an entry in "
        f"UNSCOPED saying why not. Unscoped: {sorted(unscoped - set(UNSCOPED))}; "
        f"stale entries: {sorted(set(UNSCOPED) - unscoped)}"
    )
    assert all(len(reason) > 40 for reason in UNSCOPED.values())


@pytest.mark.parametrize("model", SCOPED, ids=_ids(SCOPED))
def test_the_declared_lookup_reaches_the_tenant(model):
    related = model
    for name in model._default_manager.tenant_lookup.split("__"):
        related = related._meta.get_field(name).related_model
    assert related is Tenant


# --- (a) no tenant in scope: loud --------------------------------------------------------------

@pytest.mark.parametrize("model", SCOPED, ids=_ids(SCOPED))
def test_a_query_with_no_tenant_in_scope_raises(model):
    objects = model._default_manager
    for query in (
        lambda: objects.all(),  # even one that would only become a subquery later
        lambda: objects.get_queryset() | objects.get_queryset(),
        lambda: objects.filter(pk=1).first(),
        lambda: objects.count(),
        lambda: objects.exists(),
        lambda: objects.get(pk=1),
        lambda: list(objects.values_list("pk", flat=True)),
        lambda: objects.aggregate(n=Count("pk")),
        lambda: objects.update(pk=1),
        lambda: objects.all().delete(),
        lambda: list(objects.iterator()),
        lambda: objects.select_for_update().first(),
    ):
        with pytest.raises(TenantScopeError, match=model._meta.label):
            query()
    assert list(objects.none()) == []  # an empty queryset (forms, defaults) is still fine


def test_a_new_thread_or_task_starts_with_no_tenant_in_scope(make_tenant):
    tenant = make_tenant("demo")
    caught = []

    def worker():
        try:
            get_user_model()._default_manager.count()
        except TenantScopeError as error:
            caught.append(error)

    with tenant_scope(tenant):  # the scope is the running code's, never inherited by a thread
        thread = threading.Thread(target=worker)
        thread.start()
        thread.join()
    assert len(caught) == 1


def test_reverse_relations_are_scoped_too(make_tenant, make_user):
    a, b = make_tenant("demo"), make_tenant("acme")
    make_user(b, "hanako@acme.example")
    with pytest.raises(TenantScopeError):
        list(b.users.all())
    with tenant_scope(a):
        assert list(b.users.all()) == []
    with tenant_scope(b):
        assert [u.email for u in b.users.all()] == ["hanako@acme.example"]


def test_a_scope_needs_a_saved_tenant():
    for wrong in (None, Tenant(slug="unsaved")):
        with pytest.raises(TenantScopeError), tenant_scope(wrong):
            pass


# --- (b) tenant A's scope: none of B's rows ----------------------------------------------------

def _rows_of(tenant, prefix, make_user):
    """Rows of every scoped model for `tenant` (policy, branding and signing key come with the
    tenant)."""
    user = make_user(tenant, f"{prefix}@{prefix}.example", name=f"{prefix} person")
    with tenant_scope(tenant):
        question = SecurityQuestion.objects.create(
            tenant=tenant, text_ja=f"{prefix} 質問", text_en=f"{prefix} question?"
        )
        recovery_services.register_security_questions(user, {question: f"{prefix} answer"})
        recovery_services.generate_recovery_codes(user)
        recovery_services.profile_for(user)
        audit.record("signin.succeeded", user=user)
        OutboxEmail.objects.create(tenant=tenant, user=user, to_email=user.email, kind="invitation")
        client, _secret = register_client(
            tenant=tenant, name=f"{prefix} app", redirect_uris=["http://127.0.0.1/cb"]
        )
        group = TenantGroup.objects.create(tenant=tenant, name=f"{prefix} group")
        group.members.add(user)
        save_assignment(client, required=True, groups=[group], users=[user],
                        roles=[(group, f"{prefix}-role")])
        BackchannelLogout.objects.create(
            tenant=tenant, client=client, sub=user.subject_identifier, jti=f"{prefix}-jti",
            reason="signed_out",
        )
    return user


@pytest.fixture
def two_tenants(make_tenant, make_user):
    a, b = make_tenant("demo"), make_tenant("acme")
    _rows_of(a, "demo", make_user)
    _rows_of(b, "acme", make_user)
    return a, b


@pytest.mark.parametrize("model", SCOPED, ids=_ids(SCOPED))
def test_within_a_tenants_scope_no_row_of_another_tenant_comes_back(model, two_tenants):
    a, b = two_tenants
    counts = rows_by_tenant(model)
    # The fixture must give the model rows in both tenants, or this test would prove nothing.
    assert counts.get(a.pk) and counts.get(b.pk), f"add {model._meta.label} rows to _rows_of()"
    objects = model._default_manager
    lookup = objects.tenant_lookup
    allowed = {a.pk, None} if objects.shared_rows else {a.pk}
    with tenant_scope(a):
        seen = list(objects.values_list(lookup, flat=True))
        assert set(seen) <= allowed
        assert seen.count(a.pk) == counts[a.pk]
        assert not objects.filter(**{lookup: b.pk}).exists()
        assert objects.filter(**{f"{lookup}__in": [b.pk]}).count() == 0
    with platform_scope():  # the platform host: only rows of no tenant
        assert set(objects.values_list(lookup, flat=True)) <= {None}


def test_the_platform_scope_finds_its_operators_and_no_tenants_user(two_tenants):
    user_model = get_user_model()
    operator = user_model.objects.create_superuser("op@platform.example", "x")
    with platform_scope():
        assert list(user_model.objects.all()) == [operator]
    with tenant_scope(two_tenants[0]):
        assert not user_model.objects.filter(pk=operator.pk).exists()


def test_the_shared_question_bank_is_in_every_tenants_scope(two_tenants):
    a, b = two_tenants
    with tenant_scope(a):
        texts = set(SecurityQuestion.objects.values_list("text_en", flat=True))
    with all_tenants():
        bank = set(SecurityQuestion.objects.filter(tenant=None).values_list("text_en", flat=True))
    assert bank and bank <= texts
    assert "demo question?" in texts and "acme question?" not in texts


# --- the request path ---------------------------------------------------------------------------

def _verified_admin_client(user, tenant):
    device = TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True)
    client = client_for(tenant)
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client


@pytest.mark.parametrize("page", [
    "/admin/accounts/user/", "/admin/audit/auditevent/", "/admin/outbox/outboxemail/",
    "/admin/recovery/securityquestion/", "/admin/allauth_idp_oidc/client/", "/admin/report/",
])
def test_a_signed_in_page_of_tenant_a_never_shows_b_rows(page, two_tenants, make_user):
    a, _b = two_tenants
    boss = make_user(a, "boss@demo.example", is_staff=True, language="en")
    client = _verified_admin_client(boss, a)
    response = client.get(page)
    assert response.status_code == 200
    body = response.content.decode()
    assert "acme" not in body.lower()


def test_the_request_runs_in_its_hosts_scope(two_tenants, make_user):
    """The session of A's user on A's host finds them; the same session cookie on B's host finds
    nobody (the scoped look-up), and the platform host neither."""
    a, b = two_tenants
    with all_tenants():
        user = get_user_model().objects.get(email="demo@demo.example")
    client = client_for(a)
    client.force_login(user)
    assert client.get("/security-info/").status_code == 200
    for host in ("acme.localhost", "localhost"):
        other = client_for(host)
        other.cookies = client.cookies
        response = other.get("/security-info/")
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_a_query_kept_across_requests_is_not_bound_to_the_first_requests_tenant(two_tenants):
    """recovery.status caches its query template per process: built in whichever scope came
    first, it would filter every later tenant's users by the first tenant."""
    from recovery.status import registration_status

    for tenant in two_tenants:
        with all_tenants():
            user = get_user_model().objects.get(email=f"{tenant.slug}@{tenant.slug}.example")
        with tenant_scope(tenant):
            assert registration_status(user).methods == {
                recovery_services.QUESTIONS, recovery_services.RECOVERY_CODES}


# --- work outside a request: tasks and signal receivers ----------------------------------------

def test_a_deactivation_outside_any_scope_ends_the_tokens_and_owes_the_app_a_logout(two_tenants):
    """accounts.signals' deactivation receiver and sso.revocation's access_ended receiver run in
    whatever scope the save is made (here none, as in a script): they enter the user's own."""
    from allauth.idp.oidc.models import Token

    from sso import backchannel

    a, _b = two_tenants
    with all_tenants():
        user = get_user_model().objects.get(email="demo@demo.example")
        link = a.oidc_clients.get()
        backchannel.set_logout_uri(link.client, "https://app.demo.example/logout")
        Token.objects.create(type=Token.Type.REFRESH_TOKEN, hash="x" * 64, client=link.client, user=user)
        logouts_before = BackchannelLogout.objects.filter(tenant=a).count()
    user.is_active = False
    user.save()  # no scope here: the receivers must not raise TenantScopeError
    assert not Token.objects.filter(user=user).exists()
    with tenant_scope(a):
        assert BackchannelLogout.objects.filter(reason="deactivated").count() == 1
        assert BackchannelLogout.objects.count() == logouts_before + 1


def test_the_sso_tasks_work_across_tenants_with_no_scope_of_their_own(two_tenants, eager_tasks):
    """Celery runs a task with no scope: delivery, its sweeper and the purge enter theirs."""
    from sso.tasks import (
        deliver_backchannel_logout,
        purge_redeemed_grants,
        sweep_backchannel_logouts,
    )

    with all_tenants():
        rows = list(BackchannelLogout.objects.values_list("pk", flat=True))
    assert len(rows) == 2  # one of each tenant
    for pk in rows:  # no logout URI registered: each row fails for good, never a scope error
        assert deliver_backchannel_logout(pk) == "failed"
    assert sweep_backchannel_logouts(0) == 0  # nothing pending is left, in either tenant
    assert purge_redeemed_grants() == 0
    with all_tenants():
        assert set(BackchannelLogout.objects.values_list("state", flat=True)) == {"failed"}
