"""Rules of the self-service password reset (SPEC.md flow E).

The wizard's state lives server-side in the browser's session; failure counters and locks live
in the Django cache (Redis in production), so every web node sees the same numbers. Views,
the admin and tests call these functions; nothing else decides who may reset.

No enumeration: an unknown name, another tenant's user, a disabled account and an account
without the chosen method all walk the same pages ("decoys") and fail verification the same
way, in the same time.
"""

import logging
import secrets
import time
import unicodedata
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from enum import Enum

from allauth.account.adapter import get_adapter
from django.core.cache import cache
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django_otp import devices_for_user
from django_otp.models import ThrottlingMixin

import audit
from accounts.models import User
from accounts.notifications import notify_password_changed
from accounts.usersessions import end_sessions
from portal.middleware import UNAVAILABLE

from . import services
from .models import SecurityQuestion, SecurityQuestionsDevice

logger = logging.getLogger(__name__)

STATE_KEY = "portal_password_reset"
STATE_LIFETIME = timedelta(minutes=15)
FAILURE_WINDOW_SECONDS = 60 * 60
# Everyone behind an office NAT shares one client address, so an address gets room for a few
# accounts' worth of failures before it is locked; one name still locks at the policy's number.
ADDRESS_LIMIT_FACTOR = 4

# Wizard steps, in order.
STEP_METHOD = "method"
STEP_VERIFY = "verify"
STEP_PASSWORD = "password"

# Why a request for a step was refused.
REFUSED_MISSING = "missing"
REFUSED_EXPIRED = "expired"


class Outcome(Enum):
    PASSED = "passed"
    FAILED = "failed"
    LOCKED = "locked"
    UNAVAILABLE = "unavailable"


class WizardRefused(Exception):
    """The step was asked for without a live state that has reached it."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


class ResetUnavailable(Exception):
    """The shared counter store (cache) cannot be read or written: fail closed."""


# --- Names and accounts ---------------------------------------------------------------------

def normalise_name(name: str) -> str:
    """Sign-in names are stored lower-case; NFKC folds full-width input typed on a phone."""
    return unicodedata.normalize("NFKC", name or "").strip().lower()


def resettable_user(tenant, name):
    """The account a name resets on this tenant's host, or None (unknown, other tenant, disabled)."""
    return User.objects.filter(tenant=tenant, email=name, is_active=True).first()


def is_privileged(user) -> bool:
    return user is not None and (user.is_staff or user.is_superuser)


def methods_offered(tenant) -> list[str]:
    """The method choices: the tenant's enabled methods, the same for every name typed."""
    return list(tenant.policy.enabled_methods)


def methods_required(tenant) -> int:
    return max(1, min(tenant.policy.methods_required_for_reset, len(methods_offered(tenant))))


# --- Wizard state ---------------------------------------------------------------------------

def start(request, name) -> dict:
    """Step 1: begin a new attempt for a name (any earlier attempt in this session is dropped)."""
    name = normalise_name(name)
    user = resettable_user(request.tenant, name)
    state = {
        "tenant": request.tenant.pk,
        "name": name,
        "user": user.pk if user is not None else None,
        "started": time.time(),
        "methods": None,
        "questions": None,
        "verified": [],
        "passed": False,
    }
    # A new session key for each attempt and again once verified: a session id planted in the
    # browser beforehand (fixation) never carries a verified attempt.
    request.session.cycle_key()
    _save(request, state)
    audit.record("reset.started", request=request, user=user, tenant=request.tenant)
    return state


def load(request, step) -> dict:
    """The live state of this browser's attempt, if it has reached `step`; else WizardRefused.

    A refused state is dropped, so the user starts again from the sign-in name.
    """
    state = request.session.get(STATE_KEY)
    if not isinstance(state, dict) or state.get("tenant") != request.tenant.pk:
        discard(request)
        raise WizardRefused(REFUSED_MISSING)
    if time.time() - state.get("started", 0) > STATE_LIFETIME.total_seconds():
        discard(request)
        raise WizardRefused(REFUSED_EXPIRED)
    reached = {
        STEP_METHOD: True,
        STEP_VERIFY: bool(state.get("methods")),
        STEP_PASSWORD: bool(state.get("passed")) and _nothing_left(request, state),
    }
    if not reached[step]:
        discard(request)
        raise WizardRefused(REFUSED_MISSING)
    return state


def _nothing_left(request, state) -> bool:
    user = state_user(request, state)
    return user is not None and not methods_needed(state, user)


def discard(request):
    request.session.pop(STATE_KEY, None)


def _save(request, state):
    request.session[STATE_KEY] = state
    request.session.modified = True


def state_user(request, state):
    """The real account behind the attempt, or None for a decoy. Re-checked on every step.

    A decoy runs the same query (finding nothing), so it costs what a real account costs.
    """
    return User.objects.filter(pk=state.get("user"), tenant=request.tenant, is_active=True).first()


def choose_methods(request, state, methods):
    """Step 2. `methods` were validated against methods_offered() by the form.

    Choosing again restarts verification but keeps any questions already drawn, so going back
    and forth cannot shop for easier questions.
    """
    state.update(methods=list(methods), verified=[], passed=False)
    _save(request, state)
    audit.record(
        "reset.method_chosen", request=request, user=state_user(request, state),
        tenant=request.tenant, methods=list(methods),
    )


def methods_needed(state, user) -> list[str]:
    """What is still to verify: the chosen methods, then the authenticator for staff.

    Staff and admins never reset with security questions alone. Asking for the app only after
    the chosen methods passed keeps staff status hidden from anyone who has not answered.
    """
    verified = state.get("verified") or []
    pending = [m for m in state.get("methods") or [] if m not in verified]
    if pending:
        return pending
    if is_privileged(user) and services.AUTHENTICATOR not in verified:
        return [services.AUTHENTICATOR]
    return []


def extra_method_required(state) -> bool:
    """True when the method now asked for was not chosen (the staff rule added it)."""
    chosen = state.get("methods") or []
    verified = state.get("verified") or []
    return bool(verified) and all(m in verified for m in chosen)


# --- Security questions ---------------------------------------------------------------------

def _question_order(queryset):
    return queryset.order_by("tenant_id", "position", "id")


def decoy_question_ids(tenant, name, count) -> list[int]:
    """The questions a decoy "has": picked from the offered ones by a keyed hash of the name.

    Ranking every question by HMAC(SECRET_KEY, name, id) keeps the pick stable for a name
    (asking twice shows the same questions) and unpredictable without the key.
    """
    offered = list(services.questions_offered(tenant).values_list("pk", flat=True))

    def rank(question_id):
        return salted_hmac("recovery.reset.decoy", f"{tenant.pk}:{name}:{question_id}").digest()

    return sorted(offered, key=rank)[:count]


def _draw_questions(tenant, state, user) -> list[int]:
    policy = tenant.policy
    device = services.questions_device(user)
    if device is not None:
        pool = list(device.answers.values_list("question_id", flat=True))
    else:
        pool = decoy_question_ids(tenant, state["name"], policy.questions_to_register)
    drawn = secrets.SystemRandom().sample(pool, min(policy.questions_to_answer, len(pool)))
    # Shown in the bank's order, so the order does not tell a real set from a decoy.
    return list(_question_order(SecurityQuestion.objects.filter(pk__in=drawn)).values_list("pk", flat=True))


def questions_to_ask(request, state) -> list[SecurityQuestion]:
    """M questions drawn once per attempt and kept in the state: a reload shows the same ones."""
    if state.get("questions") is None:
        state["questions"] = _draw_questions(request.tenant, state, state_user(request, state))
        _save(request, state)
    return list(
        _question_order(
            SecurityQuestion.objects.filter(
                Q(tenant__isnull=True) | Q(tenant=request.tenant), pk__in=state["questions"]
            )
        )
    )


# --- Authenticator app ----------------------------------------------------------------------

def verify_authenticator_code(user, code) -> bool:
    """The one TOTP check of the reset: django-otp's drift ±1, replay refusal and throttle.

    user None (a decoy) runs the same device query, which finds nothing.
    """
    device = services.authenticator_device(user)
    if device is None:
        return False
    return services.verify_authenticator_code(device, code)


# --- Verification, counters and locks -------------------------------------------------------

def verify(request, state, method, token) -> Outcome:
    """Step 3 for one method. token: {question_id: answer} or the 6-digit code.

    Refused without checking while the name or the address is locked, or while the counters
    cannot be read (fail closed).
    """
    refused = lock_check(request, state)
    if refused is not None:
        return refused
    user = state_user(request, state)
    # One transaction: a real check (throttle update + audit) and a decoy's (audit only) then
    # cost one commit each, so the database does not tell them apart by time. A decoy (user
    # None) goes through the same functions: same queries (finding nothing), same hashing.
    with transaction.atomic():
        if method == services.QUESTIONS:
            passed = services.verify_answers(user, token)
        else:
            passed = verify_authenticator_code(user, token)
        audit.record(
            "reset.verify_passed" if passed else "reset.verify_failed",
            request=request, user=user, tenant=request.tenant, method=method,
        )
    if passed:
        state["verified"] = [*state.get("verified", []), method]
        state["passed"] = not methods_needed(state, user)
        request.session.cycle_key()
        _save(request, state)
        return Outcome.PASSED
    try:
        locked = record_failure(request, state["name"], user)
    except ResetUnavailable:
        return Outcome.UNAVAILABLE
    return Outcome.LOCKED if locked else Outcome.FAILED


def _cache_key(kind, value) -> str:
    # Keyed hash: the cache never holds sign-in names or addresses in clear.
    return f"recovery:reset:{kind}:{salted_hmac('recovery.reset.counter', value).hexdigest()}"


def _account_keys(tenant_id, name):
    account = f"{tenant_id}:{name}"
    return _cache_key("fails", account), _cache_key("lock", account)


def _address_keys(address):
    return _cache_key("fails-ip", address), _cache_key("lock-ip", address)


@contextmanager
def _counters():
    """Any cache failure (Redis down, timeout) becomes ResetUnavailable: the caller fails closed."""
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - whatever the backend raises
        logger.warning("password reset counters unavailable: %s", exc.__class__.__name__)
        raise ResetUnavailable from exc


def _as_datetime(until):
    return datetime.fromtimestamp(until, tz=UTC) if until else None


def locked_until(tenant, name, address):
    """When the lock on this name (or this client address) ends, or None. ResetUnavailable."""
    lock_keys = [_account_keys(tenant.pk, name)[1]]
    if address:
        lock_keys.append(_address_keys(address)[1])
    with _counters():
        values = [v for v in cache.get_many(lock_keys).values() if v]
    until = max(values, default=None)
    return _as_datetime(until) if until and until > time.time() else None


def _count_failure(key) -> int:
    with _counters():
        cache.add(key, 0, FAILURE_WINDOW_SECONDS)
        try:
            return cache.incr(key)
        except ValueError:  # the window ran out between add and incr
            cache.set(key, 1, FAILURE_WINDOW_SECONDS)
            return 1


def _lock(count_key, lock_key, seconds):
    with _counters():
        cache.set(lock_key, time.time() + seconds, seconds)
        cache.delete(count_key)


def record_failure(request, name, user) -> bool:
    """Count a failed verification for the name and the client address; True if now locked."""
    policy = request.tenant.policy
    lock_seconds = policy.reset_lock_minutes * 60
    locked = False
    count_key, lock_key = _account_keys(request.tenant.pk, name)
    if _count_failure(count_key) >= policy.reset_lock_threshold:
        _lock(count_key, lock_key, lock_seconds)
        audit.record("reset.locked", request=request, user=user, tenant=request.tenant, scope="account")
        locked = True
    address = audit.client_ip(request)
    if address:
        count_key, lock_key = _address_keys(address)
        if _count_failure(count_key) >= policy.reset_lock_threshold * ADDRESS_LIMIT_FACTOR:
            _lock(count_key, lock_key, lock_seconds)
            audit.record("reset.locked", request=request, user=user, tenant=request.tenant, scope="address")
            locked = True
    return locked


def lock_check(request, state) -> Outcome | None:
    """For pages before the check: LOCKED, UNAVAILABLE, or None when the attempt may go on."""
    try:
        if locked_until(request.tenant, state["name"], audit.client_ip(request)) is not None:
            return Outcome.LOCKED
    except ResetUnavailable:
        return Outcome.UNAVAILABLE
    return None


def reset_lock_state(user):
    """For the admin: until when the user's reset is locked (aware datetime), or None.

    Raises ResetUnavailable when the cache cannot be read.
    """
    _count_key, lock_key = _account_keys(user.tenant_id, normalise_name(user.email))
    with _counters():
        until = cache.get(lock_key)
    return _as_datetime(until) if until and until > time.time() else None


def unlock_reset(user, *, actor=None, request=None):
    """For the admin: lift the user's reset lock and forget their failures. ResetUnavailable.

    django-otp's own throttle on the user's devices is cleared too, or the right code would
    still be refused for a while after the unlock.
    """
    with _counters():
        cache.delete_many(list(_account_keys(user.tenant_id, normalise_name(user.email))))
    reset_device_throttles(user)
    audit.record(
        "reset.unlocked", request=request, user=user,
        actor=actor.email if actor is not None else None,
    )


# --- Completion -----------------------------------------------------------------------------

def complete(request, state, password):
    """Step 4 passed: set the password, end every session of the user, and tell them.

    Never signs the user in, so the MFA the tenant requires still applies at the next sign-in.
    """
    user = state_user(request, state)
    methods = list(state.get("verified") or [])
    with transaction.atomic():
        user.set_password(password)
        user.save(update_fields=["password"])
        services.update_profile(
            user, last_reset_at=timezone.now(), last_reset_method="+".join(methods)
        )
        reset_device_throttles(user)
        audit.record("reset.completed", request=request, user=user, methods=methods)
        notify_password_changed(user, how="reset")
    discard(request)
    end_all_sessions(user)
    try:
        with _counters():
            cache.delete(_account_keys(user.tenant_id, state["name"])[0])
    except ResetUnavailable:
        pass  # the failures simply age out of their window
    # As allauth's own reset does, and Entra's: the wrong passwords that led here no longer lock
    # the account out of signing in with the new one. Only Redis being down is tolerated here
    # (they age out); anything else, such as allauth renaming this, fails loudly.
    with suppress(*UNAVAILABLE):
        get_adapter(request)._delete_login_attempts_cached_email(request, email=user.email)
    return user


def reset_device_throttles(user):
    """Clear the failure counters of the user's django-otp devices and security questions."""
    for device in [*devices_for_user(user, confirmed=None), *SecurityQuestionsDevice.objects.filter(user=user)]:
        if isinstance(device, ThrottlingMixin):
            device.throttle_reset()


def end_all_sessions(user):
    """Every session of the user ends (accounts.usersessions.end_sessions)."""
    end_sessions(user)
