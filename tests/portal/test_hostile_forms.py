"""Hostile input to every form: random, oversized, wrong-typed, control characters (NUL, which
PostgreSQL refuses in text), lone surrogates and other Unicode edge cases, in fields, in the
query string and in headers. Never a 500, and nothing changes.

Every form is one row of FORMS; a new form (nudge, questions, authenticator, security info, reset
wizard, admin import) is covered by adding its row.
"""

from dataclasses import dataclass
from urllib.parse import quote_from_bytes

import pytest
from django.apps import apps
from django.core.cache import cache
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.models import User
from audit.models import AuditEvent
from tests.support.clients import PASSWORD, sign_in

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # Hashing strength is not under test here; Argon2 would make 300 examples take a minute.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@dataclass(frozen=True)
class FormUnderAttack:
    name: str
    path: str
    fields: tuple[str, ...]
    host: str = "demo.localhost"
    signed_in: bool = False
    may_sign_out: bool = False  # sign-out ends the session whatever else is posted


FORMS = [
    FormUnderAttack("sign-in", "/accounts/login/", ("login", "password", "remember", "next")),
    FormUnderAttack("password change", "/accounts/password/change/",
                    ("oldpassword", "password1", "password2"), signed_in=True),
    FormUnderAttack("re-authentication", "/accounts/reauthenticate/", ("password", "next"), signed_in=True),
    FormUnderAttack("language switch", "/i18n/setlang/", ("language", "next")),
    FormUnderAttack("language switch, signed in", "/i18n/setlang/", ("language", "next"), signed_in=True),
    FormUnderAttack("sign-out", "/accounts/logout/", ("next",), signed_in=True, may_sign_out=True),
    FormUnderAttack("method picker", "/security-info/methods/", ("method",), signed_in=True),
    FormUnderAttack("security questions", "/security-info/questions/",
                    ("question_1", "answer_1", "question_2", "answer_2", "question_3", "answer_3"),
                    signed_in=True),
    FormUnderAttack("authenticator code", "/security-info/authenticator/code/", ("code",), signed_in=True),
    FormUnderAttack("reset: who are you", "/accounts/password/reset/", ("email",)),
    FormUnderAttack("reset: method", "/accounts/password/reset/method/", ("method",)),
    FormUnderAttack("reset: verify", "/accounts/password/reset/verify/", ("code", "answer_1", "answer_2", "answer_3")),
    FormUnderAttack("reset: new password", "/accounts/password/reset/password/", ("password1", "password2")),
]

EDGE_CASES = [
    "\x00", "a\x00b", "%00", "\ud800", "\udfff", "a\udc80b", "\ufeff", "\u202e", "\u200b", "\ufffe",
    "\uffff", "\U0010ffff", "🧑\u200d💻", "e\u0301", "\r\n", "\x1b[31m", "\t\x0b\x0c", "ｈａｎａｋｏ",
    "İ", "ß", "' OR '1'='1' --", "<script>alert(1)</script>", "{{ 7|add:7 }}", "${jndi:ldap://x}",
    "../../etc/passwd", "//evil.example/", "javascript:alert(1)", "\\\\evil.example", "-1", "1e309",
    "[]", "{}", "null", "true", "hanako@demo.example\x00", "HANAKO@DEMO.EXAMPLE ",
]
# Any code point, lone surrogates included (the body is encoded with surrogatepass, as a
# broken client would send them).
any_text = st.text(st.characters(exclude_categories=()), max_size=200)
edge_case = st.sampled_from(EDGE_CASES)
oversized = st.builds(lambda text, times: text * times, st.sampled_from(["x", "\x00", "あ", "\ud800"]),
                      st.integers(1_000, 20_000))
raw_bytes = st.binary(max_size=100)  # often not UTF-8 at all
value = st.one_of(any_text, edge_case, st.lists(edge_case, max_size=4).map("".join), oversized, raw_bytes)
# Missing, one value, or several values for one name (a list where a string is expected).
field = st.one_of(st.none(), value, st.lists(value, min_size=2, max_size=3))
CONTENT_TYPES = ["application/x-www-form-urlencoded", "application/json", "text/plain",
                 "multipart/form-data; boundary=nope"]


def _encode(text_or_bytes):
    raw = text_or_bytes if isinstance(text_or_bytes, bytes) else text_or_bytes.encode("utf-8", "surrogatepass")
    return quote_from_bytes(raw, safe="")


def urlencoded(pairs):
    return "&".join(f"{_encode(name)}={_encode(item)}" for name, item in pairs)


@st.composite
def hostile_requests(draw, form):
    pairs = []
    for name in form.fields + tuple(draw(st.lists(any_text, max_size=2))):
        drawn = draw(field)
        for item in drawn if isinstance(drawn, list) else [] if drawn is None else [drawn]:
            pairs.append((name, item))
    query = urlencoded([("next", draw(value))]) if draw(st.booleans()) else ""
    headers = {
        "content_type": draw(st.sampled_from(CONTENT_TYPES)),
        "HTTP_USER_AGENT": draw(st.one_of(edge_case, any_text)).encode("utf-8", "surrogatepass").decode("latin-1"),
        "HTTP_ACCEPT_LANGUAGE": draw(st.one_of(edge_case, st.just("en"))).encode("utf-8", "surrogatepass").decode("latin-1"),
    }
    return urlencoded(pairs), query, headers


def snapshot():
    """Row counts of every table (sessions, their sign-in records and the audit trail of
    refusals aside: a sign-out ends its session and forgets its record) and the users."""
    counts = {
        model._meta.label: model.objects.count()
        for model in apps.get_models()
        if model not in (AuditEvent,)
        and model._meta.label not in ("sessions.Session", "usersessions.UserSession")
    }
    users = list(User.objects.order_by("pk").values("pk", "email", "password", "name", "is_active",
                                                     "is_staff", "tenant_id", "last_login"))
    return counts, users


def post_hostile(form, client, body, query, headers):
    path = form.path + (f"?{query}" if query else "")
    return client.generic("POST", path, body, **headers)


@pytest.mark.slow  # 40 examples per form: the full run only, not the smoke run
@pytest.mark.parametrize("form", FORMS, ids=[form.name for form in FORMS])
def test_hostile_input_changes_nothing_and_never_gives_a_500(form, no_nudge, tenant, user):
    superuser = User.objects.create_superuser("root@platform.example", PASSWORD)

    @settings(max_examples=40, deadline=None, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                     HealthCheck.data_too_large, HealthCheck.large_base_example])
    @given(request=hostile_requests(form))
    def attack(request):
        body, query, headers = request
        cache.clear()  # each example starts below the rate limits
        client = Client(HTTP_HOST=form.host)
        if form.signed_in:  # a real sign-in: the security-info pages want a recent one
            assert sign_in(client, user.email).status_code == 302
        before = snapshot()
        last_event = AuditEvent.objects.order_by("pk").values_list("pk", flat=True).last() or 0

        # The test client re-raises any exception a view lets through: that fails here too.
        response = post_hostile(form, client, body, query, headers)

        assert response.status_code < 500, response.status_code
        assert snapshot() == before
        new_events = set(AuditEvent.objects.filter(pk__gt=last_event).values_list("kind", flat=True))
        assert new_events <= {"signin.failed", "signout", "reset.started", "reset.verify_failed"}
        signed_in_as = client.session.get("_auth_user_id")
        if form.signed_in and not form.may_sign_out:
            assert signed_in_as == str(user.pk)
        elif not form.signed_in:
            assert signed_in_as is None
        language = response.cookies.get("django_language")
        assert language is None or language.value in ("ja", "en")

    attack()
    user.refresh_from_db()
    superuser.refresh_from_db()
    assert user.check_password(PASSWORD) and superuser.check_password(PASSWORD)


RESET = "/accounts/password/reset/"


@pytest.mark.parametrize("form", FORMS, ids=[form.name for form in FORMS])
def test_oversized_bodies_are_refused_with_a_400(form, no_nudge, tenant, user):
    client = Client(HTTP_HOST=form.host)
    if form.signed_in:
        assert sign_in(client, user.email).status_code == 302
    before = snapshot()
    too_big = urlencoded([(form.fields[0], "x" * 3_000_000)])  # over DATA_UPLOAD_MAX_MEMORY_SIZE
    too_many = urlencoded([(f"f{i}", "x") for i in range(1_500)])  # over DATA_UPLOAD_MAX_NUMBER_FIELDS
    for body in (too_big, too_many):
        response = post_hostile(form, client, body, "", {"content_type": "application/x-www-form-urlencoded"})
        if form.path.startswith(RESET) and form.path != RESET:
            # A later wizard step with no attempt going is sent back before it reads the body.
            assert response.status_code == 302 and response["Location"] == RESET
        else:
            assert response.status_code == 400
    assert snapshot() == before


def test_control_characters_in_headers_never_break_the_audit_trail(tenant, user):
    # Found by the property test above: a NUL in User-Agent made the audit write fail (500).
    client = Client(HTTP_HOST="demo.localhost", HTTP_USER_AGENT="evil\x00agent\ud800\x1b[2J")
    response = client.post("/accounts/login/", {"login": user.email, "password": "wrong"})
    assert response.status_code == 200
    event = AuditEvent.objects.get(kind="signin.failed")
    assert event.user_agent == "evilagent[2J"


# --- The admin's CSV import: a file from a malicious or careless tenant admin -------------------

IMPORT = "/admin/accounts/user/import/"
csv_cell = st.one_of(edge_case, any_text, st.sampled_from(["=1+1", "@SUM(A1)", "+cmd|' /C calc'!A0", '"', '""', ",", "\n"]))
csv_line = st.lists(csv_cell, min_size=0, max_size=6).map(lambda cells: ",".join(cells))
csv_file = st.one_of(
    st.lists(csv_line, max_size=8).map(lambda lines: "email,name,language,active\n" + "\n".join(lines)),
    st.lists(csv_line, max_size=8).map("\n".join),  # no header at all
).map(lambda text: text.encode("utf-8", "surrogatepass"))
upload = st.one_of(csv_file, raw_bytes, st.just(b"\xff\xfe" + "a,b\n".encode("utf-16-le")), st.just(b""))


@pytest.fixture
def import_admin(tenant, make_user):
    from tests.support.admin import verified_client

    boss = make_user(tenant, "boss@demo.example", is_staff=True, language="en")
    return verified_client(boss, tenant)


@pytest.mark.slow
def test_hostile_csv_imports_change_nothing_and_never_give_a_500(import_admin, tenant):
    from django.core.files.uploadedfile import SimpleUploadedFile

    @settings(max_examples=40, deadline=None, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(content=upload, name=st.sampled_from(["users.csv", "../../users.csv", "u\x00.csv", "users.exe"]),
           fmt=st.sampled_from(["0", "1", "99", "x", ""]))
    def attack(content, name, fmt):
        before = snapshot()
        preview = import_admin.post(IMPORT, {
            "import_file": SimpleUploadedFile(name, content, content_type="text/csv"), "format": fmt, "resource": "0"})
        assert preview.status_code < 500
        assert snapshot() == before  # the preview is a dry run

    attack()


@pytest.mark.parametrize("file_name", ["../../../../etc/passwd", "/etc/passwd", "x\x00y", "", "a" * 5000])
def test_import_confirmation_with_a_forged_file_name_changes_nothing(import_admin, tenant, file_name):
    before = snapshot()
    response = import_admin.post("/admin/accounts/user/process_import/", {
        "import_file_name": file_name, "original_file_name": "users.csv", "format": "0", "resource": "0"})
    assert response.status_code < 500
    assert "root:" not in response.content.decode(errors="replace")
    assert snapshot() == before
