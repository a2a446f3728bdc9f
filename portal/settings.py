"""Settings come from the environment.

With nothing set the portal runs on an embedded default (SQLite file, eager Celery, local-memory
cache, e-mail to the console). DATABASE_URL / REDIS_URL switch the same code to PostgreSQL and
Redis; DJANGO_ENV=production turns on the deploy hardening. DEBUG is off unless DEBUG=true.
"""

import sys
import warnings
from pathlib import Path

import environ
from celery.schedules import crontab
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()

DJANGO_ENV = env("DJANGO_ENV", default="development")
PRODUCTION = DJANGO_ENV == "production"
TESTING = "pytest" in sys.modules or env.bool("PORTAL_TESTING", default=False)

if PRODUCTION:
    SECRET_KEY = env("SECRET_KEY", default="")
    if len(SECRET_KEY) < 50:
        sys.exit("SECRET_KEY must be set (50+ random characters) when DJANGO_ENV=production.")
else:
    SECRET_KEY = env("SECRET_KEY", default="dev-only-insecure-key-do-not-use-in-production-0123456789")
# Off unless asked for: a debug page shows settings and source to anyone who makes an error,
# and nothing tells a demo from a deployment on real servers. `make run` sets DEBUG=true.
DEBUG = env.bool("DEBUG", default=False)

# The tenant middleware is the real host gate: it answers 404 to any host that is not a
# tenant's or the platform's, so ALLOWED_HOSTS only needs to narrow the shape.
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["*"])
# Hosts that belong to no tenant: platform operators (superusers) sign in here.
PLATFORM_HOSTS = env.list("PLATFORM_HOSTS", default=["localhost", "127.0.0.1", "testserver"])
PORTAL_BASE_DOMAIN = env("PORTAL_BASE_DOMAIN", default="localhost")
# The port the public reaches the portal on, named in its URLs (OIDC issuer, e-mail links);
# empty: the scheme's default (production, 443 behind a proxy). A request's Host may carry no
# port, the scheme's default or this one; any other is refused with 400 before any view
# (tenants.middleware.CanonicalHostMiddleware). `make run` sets it to the port it serves on.
PORTAL_PUBLIC_PORT = env("PORTAL_PUBLIC_PORT", default="").strip()
if PORTAL_PUBLIC_PORT:
    if not PORTAL_PUBLIC_PORT.isdigit() or not 0 < int(PORTAL_PUBLIC_PORT) < 65536:
        sys.exit("PORTAL_PUBLIC_PORT must be a port number (1-65535), or empty for the default port.")
    PORTAL_PUBLIC_PORT = str(int(PORTAL_PUBLIC_PORT))

INSTALLED_APPS = [
    # Our admin site (OTP-verified, tenant-scoped) as the default admin.site.
    "console.apps.PortalAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_otp",
    "django_otp.plugins.otp_totp",
    # Not django_otp.plugins.otp_static: its tokens are stored in clear; recovery codes are
    # recovery.RecoveryCodeDevice (keyed digests) on the same Device API.
    "allauth",
    "allauth.account",
    "allauth.usersessions",
    "allauth.idp.oidc",
    "import_export",
    "tenants",
    "audit",
    "outbox",
    "accounts",
    "sso",
    "recovery",
    # The organisation admin: every admin class, CSV import, the report.
    "console.apps.ConsoleConfig",
    # Wiring only (no models): the seed_demo command.
    "portal.apps.PortalConfig",
]

MIDDLEWARE = [
    "portal.middleware.HealthCheckMiddleware",
    # The host is read once, canonically, before anything (even the HTTPS redirect) uses it.
    "tenants.middleware.CanonicalHostMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "tenants.middleware.TenantMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # Before anything reads the session: another tenant's session is nobody's here.
    "accounts.middleware.SessionTenantMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "accounts.middleware.UserLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "allauth.usersessions.middleware.UserSessionsMiddleware",
    "portal.middleware.ServiceUnavailableMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "tenants.context_processors.tenant",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
_default_db = f"sqlite:///{BASE_DIR / 'var' / 'portal.sqlite3'}"
try:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # django-environ only warns on an unknown scheme
        DATABASES = {"default": env.db_url("DATABASE_URL", default=_default_db)}
except Exception as exc:  # noqa: BLE001 - any parse error gets one clear line, not a traceback
    sys.exit(f"DATABASE_URL is not a valid database URL ({exc.__class__.__name__}: {exc}).")
if not DATABASES["default"].get("ENGINE"):
    sys.exit("DATABASE_URL is not a valid database URL (unknown scheme).")
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    (BASE_DIR / "var").mkdir(exist_ok=True)
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20
else:
    # Health-checked persistent connections: a restarted PostgreSQL needs no web restart.
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # No JIT: compiling a plan took ≈ 30 ms, as long as the admin report's whole aggregate over
    # 10,000 users (bench/README.md); short OLTP queries never repay it.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("options", "-c jit=off")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache, sessions, Celery ----------------------------------------------------------------
REDIS_URL = env("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "core.compat.django.RedisCache",  # Django's, one client per pool
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env("CACHE_KEY_PREFIX", default="portal"),
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Sessions live in the database with the cache in front: any web node can read them, and they
# survive a cache outage. Django's cached_db store, changed in core/compat/django.py.
SESSION_ENGINE = "core.compat.django"
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=60 * 60 * 12)

CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_connect_timeout": 2, "socket_timeout": 5}
CELERY_TIMEZONE = "UTC"
# A web request must not hang on a broker outage: publishing fails fast, the outbox row stays
# pending and the sweeper sends it later (outbox.mail).
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2}
CELERY_BEAT_SCHEDULE = {
    "outbox-sweep": {"task": "outbox.tasks.sweep_outbox", "schedule": 60.0},
    "backchannel-logout-sweep": {"task": "sso.tasks.sweep_backchannel_logouts", "schedule": 60.0},
    # Monday 09:00 in Japan.
    "admin-digest-weekly": {
        "task": "recovery.tasks.send_admin_digests",
        "schedule": crontab(minute=0, hour=0, day_of_week="mon"),
    },
    "never-signed-in-nudge-daily": {
        "task": "recovery.tasks.nudge_never_signed_in",
        "schedule": crontab(minute=30, hour=0),
    },
    # Django's database sessions are never deleted otherwise (what `clearsessions` does).
    "ended-sessions-purge-daily": {
        "task": "accounts.tasks.purge_ended_sessions",
        "schedule": crontab(minute=45, hour=18),  # 03:45 in Japan
    },
    # Every sign-in name typed at the reset leaves a counter row (decoys too).
    "reset-counters-purge-daily": {
        "task": "recovery.tasks.purge_reset_counters",
        "schedule": crontab(minute=50, hour=18),  # 03:50 in Japan
    },
    # Each token exchange records its code or refresh token (reuse detection, sso.oidc).
    "redeemed-grants-purge-daily": {
        "task": "sso.tasks.purge_redeemed_grants",
        "schedule": crontab(minute=55, hour=18),  # 03:55 in Japan
    },
}

# --- Outbox (read through outbox.app_settings, which holds the same defaults) ----------------
OUTBOX_MAX_ATTEMPTS = env.int("OUTBOX_MAX_ATTEMPTS", default=6)
# Retry n waits BASE * 2**(n-1) seconds, at most MAX: 1, 2, 4, 8, 16 minutes by default.
OUTBOX_RETRY_BASE_SECONDS = env.float("OUTBOX_RETRY_BASE_SECONDS", default=60.0)
OUTBOX_RETRY_MAX_SECONDS = env.float("OUTBOX_RETRY_MAX_SECONDS", default=3600.0)
# Due rows one delivery task sends over one transaction and SMTP connection.
OUTBOX_DELIVERY_BATCH = env.int("OUTBOX_DELIVERY_BATCH", default=50)
# The sweeper re-queues pending rows whose attempt is this late (lost task, broker outage).
OUTBOX_SWEEP_AFTER_SECONDS = env.int("OUTBOX_SWEEP_AFTER_SECONDS", default=300)
# E-mail employees who never signed in every N days to invite them to register (0: off;
# read through recovery.app_settings).
NEVER_SIGNED_IN_NUDGE_DAYS = env.int("NEVER_SIGNED_IN_NUDGE_DAYS", default=0)
# Back-channel logout (sso.backchannel): logout tokens are never POSTed to loopback, private or
# link-local addresses (SSRF into the internal network) unless this is on: a single-machine demo
# whose applications run on 127.0.0.1, and the tests. Read through sso.app_settings.
SSO_BACKCHANNEL_ALLOW_PRIVATE_ADDRESSES = env.bool("SSO_BACKCHANNEL_ALLOW_PRIVATE_ADDRESSES", default=False)

# --- Auth -----------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
# "User.email is not unique": on purpose, it is unique per tenant, and the only backend
# (TenantAuthenticationBackend) looks it up in the request's tenant.
SILENCED_SYSTEM_CHECKS = ["auth.W004"]
AUTHENTICATION_BACKENDS = ["accounts.backends.TenantAuthenticationBackend"]
# The first one hashes new passwords; the others still verify (and upgrade) older hashes.
PASSWORD_HASHERS = env.list("PASSWORD_HASHERS", default=[
    "accounts.hashers.PortalArgon2Hasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
])
# Each on what the password looks like (accounts/validators.py): NFKC, invisible characters
# dropped, white space collapsed.
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "accounts.validators.VisibleCharactersValidator"},
    {"NAME": "accounts.validators.UserAttributeSimilarityVisibleValidator"},
    {"NAME": "accounts.validators.TenantMinimumLengthValidator"},
    {"NAME": "accounts.validators.CommonVisiblePasswordValidator"},
    {"NAME": "accounts.validators.NumericVisiblePasswordValidator"},
    {"NAME": "accounts.validators.TenantNameValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "home"
ACCOUNT_LOGOUT_REDIRECT_URL = "account_login"

ACCOUNT_ADAPTER = "accounts.adapter.AccountAdapter"
ACCOUNT_FORMS = {
    "change_password": "accounts.forms.ChangePasswordForm",
    "reauthenticate": "accounts.forms.ReauthenticateForm",
}
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*"]
ACCOUNT_EMAIL_VERIFICATION = "none"
# An address is unique per tenant, not across the portal (accounts.models.User): allauth must not
# hold its own portal-wide constraint on account.EmailAddress. Sign-in looks the address up in
# the request's tenant only (accounts.backends), which is what allauth's check for this
# setting guards (accounts.checks).
ACCOUNT_UNIQUE_EMAIL = False
ACCOUNT_SESSION_REMEMBER = False
ACCOUNT_LOGOUT_ON_GET = False
ACCOUNT_REAUTHENTICATION_TIMEOUT = 15 * 60
ACCOUNT_LOGIN_TIMEOUT = 15 * 60
ACCOUNT_PREVENT_ENUMERATION = True
# A password change keeps the session it was made in; accounts.signals ends every other one.
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
USERSESSIONS_TRACK_ACTIVITY = False

# --- OpenID Connect provider (allauth.idp.oidc) ----------------------------------------------
# Each tenant host is its own issuer (the request's root URL) and signs with its own keys, kept
# in the database (sso.models.TenantSigningKey; rotate: `manage.py rotate_oidc_signing_key SLUG`).
# allauth needs no key at start-up, so IDP_OIDC_PRIVATE_KEY(S) stay unset and are never read.
IDP_OIDC_ADAPTER = "sso.oidc.OIDCAdapter"
IDP_OIDC_ROTATE_REFRESH_TOKEN = True
# RFC 7662 for the tenant's own confidential clients: a client learns only about its own tokens
# (sso.oidc.OIDCAdapter.is_introspection_allowed, sso.views.introspect).
IDP_OIDC_INTROSPECTION_ENABLED = True
IDP_OIDC_INTROSPECTION_CROSS_CLIENT_ALLOWED = False
IDP_OIDC_REFRESH_TOKEN_EXPIRES_IN = env.int("OIDC_REFRESH_TOKEN_EXPIRES_IN", default=30 * 24 * 3600)

# --- i18n -----------------------------------------------------------------------------------
LANGUAGE_CODE = "ja"
LANGUAGES = [("ja", _("Japanese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
TIME_ZONE = "Asia/Tokyo"
USE_TZ = True

# --- Static and e-mail ----------------------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
if PRODUCTION:
    # Static files from the app servers themselves (collected, compressed, cache-busted).
    MIDDLEWARE.insert(MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1,
                      "whitenoise.middleware.WhiteNoiseMiddleware")

EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="no-reply@portal.localhost")

# --- OTP ------------------------------------------------------------------------------------
def _totp_issuer(device):
    # django-otp wants a callable; the rule lives with the other recovery rules.
    from recovery.services import totp_issuer

    return totp_issuer(device)


OTP_TOTP_ISSUER = _totp_issuer
# Each device accepts one step either side of the server's clock (its `tolerance`, 1, as
# RFC 6238 §5.2 recommends). Syncing would store the step a code matched as the device's drift:
# one code a step ahead moved the window forward for good, so the previous step's code (typed
# just as it changed) was refused, and a further code ahead moved it again.
OTP_TOTP_SYNC = False
# django-otp's back-off after a wrong code or answer: factor × 2^(n−1) seconds (0: off). The
# reset mirrors it for every name typed, so a wait never tells a real account from a decoy.
OTP_TOTP_THROTTLE_FACTOR = env.float("OTP_TOTP_THROTTLE_FACTOR", default=1)
OTP_SECURITY_QUESTIONS_THROTTLE_FACTOR = env.float("OTP_SECURITY_QUESTIONS_THROTTLE_FACTOR", default=1)

# The password reset's proof of work (self-hosted ALTCHA, recovery.challenge): its signing key
# (empty: derived from SECRET_KEY) and size.
RECOVERY_RESET_CHALLENGE_HMAC_KEY = env.str("RESET_CHALLENGE_HMAC_KEY", default="")
RECOVERY_RESET_CHALLENGE_MAX_NUMBER = env.int("RESET_CHALLENGE_MAX_NUMBER", default=100_000)

# --- Security headers -----------------------------------------------------------------------
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# Every cookie (session, CSRF, language, messages: CookieStorage follows SESSION_COOKIE_*) is
# out of scripts' reach and stays home on cross-site subrequests; Lax still lets an SSO
# application's top-level redirect back here carry the session.
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
LANGUAGE_COOKIE_HTTPONLY = True  # read by the server only (set by /i18n/setlang/)
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
LANGUAGE_COOKIE_SAMESITE = "Lax"
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
# Behind N reverse proxies allauth takes the client address from X-Forwarded-For, so its
# per-address sign-in limits count clients, not the proxy (0: REMOTE_ADDR, no proxy).
ALLAUTH_TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    LANGUAGE_COOKIE_SECURE = True
    # __Host- names: HTTPS only, this host only (no Domain: a sibling tenant host cannot plant
    # or shadow them), and Django deletes them with Secure as well (portal/messages.py).
    SESSION_COOKIE_NAME = "__Host-sessionid"
    CSRF_COOKIE_NAME = "__Host-csrftoken"
    LANGUAGE_COOKIE_NAME = "__Host-django_language"
    MESSAGE_STORAGE = "portal.messages.HostCookieFallbackStorage"
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

# --- Admin import/export ---------------------------------------------------------------------
# Imports run in one transaction and roll back as a whole when any row is invalid.
IMPORT_EXPORT_USE_TRANSACTIONS = True
IMPORT_EXPORT_IMPORT_PERMISSION_CODE = None
IMPORT_EXPORT_EXPORT_PERMISSION_CODE = None

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
