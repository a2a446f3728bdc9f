import base64

from allauth.idp.oidc.models import Client
from django.core.management.base import BaseCommand
from django.db import transaction
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.backends import platform_users
from accounts.models import User
from accounts.services import provision_user
from sso.oidc import register_client
from tenants.models import Tenant
from tenants.scoping import tenant_scope
from tenants.services import create_tenant

# Demo sign-ins only: printed on purpose so a new user can try the portal.
DEMO_PASSWORD = "Demo-pass-2026"
DEMO_TENANTS = [
    {
        "slug": "demo",
        "name": "Demo Corporation",
        "hosts": ["demo.localhost"],
        "users": [
            ("admin@demo.example", "Demo Admin", True, "ja"),
            ("hanako@demo.example", "山田 花子", False, "ja"),
            ("taro@demo.example", "鈴木 太郎", False, "ja"),
            ("alice@demo.example", "Alice Example", False, "en"),
        ],
    },
    {
        "slug": "acme",
        "name": "ACME Ltd.",
        "hosts": ["acme.localhost"],
        "users": [
            ("admin@acme.example", "Acme Admin", True, "en"),
            ("bob@acme.example", "Bob Builder", False, "en"),
            ("kenji@acme.example", "佐藤 健二", False, "ja"),
        ],
    },
]
PLATFORM_ADMIN = "operator@platform.example"
# The admin asks everyone for an authenticator code, and an operator has no tenant whose security
# info page could register one: the demo operator gets a known key, like the demo password.
# (A real operator registers one as docs/operator-guide.md says.)
PLATFORM_ADMIN_TOTP_KEY = b"demo-operator-2026!!"  # 20 bytes: django-otp's default key length
# The demo SSO application of tenant "demo" (README "Try SSO"). A known secret on purpose, like
# the demo password; real clients get a random one from the admin, shown once.
DEMO_CLIENT_ID = "demo-teams"
DEMO_CLIENT_SECRET = "demo-teams-secret-2026"
DEMO_CLIENT_REDIRECT_URI = "http://127.0.0.1:8765/callback"


class Command(BaseCommand):
    help = "Create the demo tenants (demo.localhost, acme.localhost) and their users, once."

    def add_arguments(self, parser):
        parser.add_argument("--port", default="8000", help="Port shown in the printed URLs.")

    @transaction.atomic
    def handle(self, *args, port, **options):
        for spec in DEMO_TENANTS:
            tenant = Tenant.objects.filter(slug=spec["slug"]).first()
            if tenant is None:
                tenant = create_tenant(slug=spec["slug"], name=spec["name"], hosts=spec["hosts"])
            with tenant_scope(tenant):
                for email, name, is_staff, language in spec["users"]:
                    if not User.objects.filter(email=email).exists():
                        provision_user(
                            tenant=tenant, email=email, name=name, password=DEMO_PASSWORD,
                            is_staff=is_staff, language=language,
                        )
        operator = platform_users().filter(email=PLATFORM_ADMIN).first()
        if operator is None:
            operator = User.objects.create_superuser(PLATFORM_ADMIN, DEMO_PASSWORD)
        if not TOTPDevice.objects.filter(user=operator, confirmed=True).exists():
            TOTPDevice.objects.create(user=operator, name="Authenticator app", confirmed=True,
                                      key=PLATFORM_ADMIN_TOTP_KEY.hex())
        if not Client.objects.filter(id=DEMO_CLIENT_ID).exists():
            client, _secret = register_client(
                tenant=Tenant.objects.get(slug="demo"), name="Demo Teams", client_id=DEMO_CLIENT_ID,
                redirect_uris=[DEMO_CLIENT_REDIRECT_URI], skip_consent=True,
                post_logout_redirect_uris=["http://127.0.0.1:8765/signed-out"],
            )
            client.set_secret(DEMO_CLIENT_SECRET)
            client.save(update_fields=["secret"])

        out = self.stdout
        out.write("")
        out.write("Identity portal demo")
        for spec in DEMO_TENANTS:
            out.write(f"  {spec['name']}: http://{spec['hosts'][0]}:{port}/")
            for email, _name, is_staff, _lang in spec["users"]:
                role = "organisation admin" if is_staff else "employee"
                out.write(f"    {email:<24} {DEMO_PASSWORD}   ({role})")
        out.write(f"  Platform operators: http://localhost:{port}/admin/")
        out.write(f"    {PLATFORM_ADMIN:<24} {DEMO_PASSWORD}   (superuser)")
        out.write(f"    authenticator key (enter it in an authenticator app): {operator_key()}")
        out.write("  SSO demo application \"Demo Teams\" (OpenID Connect, tenant demo):")
        out.write(f"    issuer        http://demo.localhost:{port}")
        out.write(f"    client id     {DEMO_CLIENT_ID}")
        out.write(f"    client secret {DEMO_CLIENT_SECRET}")
        out.write(f"    redirect URI  {DEMO_CLIENT_REDIRECT_URI}")
        out.write("")


def operator_key() -> str:
    """The demo operator's authenticator key as apps take it (base32, in groups of four)."""
    key = base64.b32encode(PLATFORM_ADMIN_TOTP_KEY).decode().rstrip("=")
    return " ".join(key[i:i + 4] for i in range(0, len(key), 4))
