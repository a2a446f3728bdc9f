"""Rules of the self-service password reset (docs/product.md flow E).

The wizard's state lives server-side in the browser's session; failure counters and locks live
in the database (ResetThrottle rows), so every web node sees the same numbers and a restarted
cache forgets nothing. Views, the admin and tests call these functions; nothing else decides who
may reset.

No enumeration: an unknown name, another tenant's user, a disabled account and an account
without the chosen method all walk the same pages ("decoys") and fail verification the same
way, in the same time.
"""

import functools
import logging
import operator
import secrets
import time
import unicodedata
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from django.db import DatabaseError, connection, transaction
from django.db.models import F, Max, Q
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django_otp import devices_for_user
from django_otp.models import ThrottlingMixin
from django_otp.plugins.otp_totp.models import TOTPDevice

import audit
from accounts.models import User
from accounts.notifications import notify_password_changed
from accounts.otp import (
    Result,
    authenticator_device,
    back_off_end,
    retry_at,
    seconds_until,
    verify_totp,
)
from accounts.usersessions import end_access
from core.compat.allauth import clear_failed_sign_ins
from core.errors import UNAVAILABLE
from tenants.scoping import tenant_scope

from . import app_settings, challenge, services
from .models import RecoveryCodeDevice, ResetThrottle, SecurityQuestion, SecurityQuestionsDevice

logger = logging.getLogger(__name__)

STATE_KEY = "portal_password_reset"

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
    WAIT = "wait"  # a back-off refused the try unchecked; it was not counted
    CHALLENGE = "challenge"  # the client address owes a proof of work first; not counted


@dataclass(frozen=True)
class Verdict:
    """What verify() decided, with what the page tells the user: the tries left after a
    failure, the seconds to wait, or the end of the lock."""

    outcome: Outcome
    tries_left: int | None = None
    wait_seconds: int | None = None
    locked_until: datetime | None = None


class WizardRefused(Exception):
    """The step was asked for without a live state that has reached it."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


class ResetUnavailable(Exception):
    """The counters (database rows) cannot be read or written: fail closed."""


# --- Names and accounts ---------------------------------------------------------------------

def normalise_name(name: str) -> str:
    """Sign-in names are stored lower-case; NFKC folds full-width input typed on a phone."""
    return unicodedata.normalize("NFKC", name or "").strip().lower()


def resettable_user(tenant, name):
    """The account a name resets on this tenant's host, or None (unknown, other tenant, disabled)."""
    with tenant_scope(tenant):
        return User.objects.filter(email=name, is_active=True).first()


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
    if time.time() - state.get("started", 0) > app_settings.RESET_STATE_LIFETIME.total_seconds():
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
    with tenant_scope(request.tenant):
        return User.objects.filter(pk=state.get("user"), is_active=True).first()


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

    Staff and admins never reset with security questions alone: they also prove something they
    have (the authenticator app, or a recovery code when they chose one). Asking for the app only after
    the chosen methods passed keeps staff status hidden from anyone who has not answered.
    """
    verified = state.get("verified") or []
    pending = [m for m in state.get("methods") or [] if m not in verified]
    if pending:
        return pending
    if is_privileged(user) and not set(services.POSSESSION_METHODS) & set(verified):
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
            # The tenant's scope: its own questions and the built-in bank (tenants.scoping).
            SecurityQuestion.objects.filter(pk__in=state["questions"])
        )
    )


# --- Authenticator app ----------------------------------------------------------------------

def verify_authenticator_code(user, code) -> Result:
    """The one TOTP check of the reset: one step either side, replay refusal and throttle.

    user None (a decoy) runs the same device query, which finds nothing.
    """
    device = authenticator_device(user)
    if device is None:
        return Result.INVALID
    return verify_totp(device, code)


def _method_device(user, method):
    """The user's throttled device for `method`, or None (a decoy runs the same query)."""
    if method == services.QUESTIONS:
        return services.questions_device(user)
    if method == services.AUTHENTICATOR:
        return authenticator_device(user)
    if method == services.RECOVERY_CODES:
        return services.recovery_codes_device(user)
    return None


def _device_retry_at(device, method):
    """When the method's own device (django-otp's back-off, read through verify_is_allowed())
    checks again, or None."""
    if device is None or not isinstance(device, ThrottlingMixin):
        return None
    return retry_at(device) if method == services.AUTHENTICATOR else back_off_end(device)


def _back_off_factor(method) -> float:
    """django-otp's factor for the method's device (OTP_TOTP_THROTTLE_FACTOR, …): the counter's
    back-off for every name, real or not, is the one the device would apply."""
    model = {services.QUESTIONS: SecurityQuestionsDevice, services.AUTHENTICATOR: TOTPDevice,
             services.RECOVERY_CODES: RecoveryCodeDevice}.get(method)
    return float(model().get_throttle_factor()) if model is not None else 1.0


# --- Verification, counters and locks -------------------------------------------------------

def verify(request, state, method, token, proof=None) -> Verdict:
    """Step 3 for one method. token: {question_id: answer}, the 6-digit code or a recovery code;
    proof: the proof-of-work solution posted with it (challenge.FIELD), if any.

    A try is taken on the name's, the (address, name) pair's and the address's counters before
    anything is compared, and given back when the check passes: however many requests arrive
    together, on whichever node, no more than the policy's number of checks happen before the
    name is locked. Refused without checking and without counting: while the name or the pair
    is locked; while a back-off runs (django-otp's on the device, mirrored on the name's
    counter so a decoy waits alike) — the page says "wait", never "wrong"; while the address
    owes a proof of work; while the counters cannot be written (fail closed).
    """
    user = state_user(request, state)
    device_retry = _device_retry_at(_method_device(user, method), method)
    try:
        taken = _take_try(
            request.tenant, state["name"], audit.client_ip(request), method, device_retry, proof
        )
    except ResetUnavailable:
        return Verdict(Outcome.UNAVAILABLE)
    if not isinstance(taken, _Try):
        return taken
    # One transaction: a real check (throttle update + audit) and a decoy's (audit only) then
    # cost one commit each, so the database does not tell them apart by time. A decoy (user
    # None) goes through the same functions: same queries (finding nothing), same hashing.
    with transaction.atomic():
        if method == services.QUESTIONS:
            passed = services.verify_answers(user, token)
        elif method == services.RECOVERY_CODES:
            result = services.check_recovery_code(user, token)
            passed = None if result is Result.THROTTLED else result is Result.OK
        else:
            result = verify_authenticator_code(user, token)
            if result is Result.THROTTLED:
                # The device refused it unchecked (a guess on another page since): no try.
                passed = None
            else:
                passed = result is Result.OK
        if passed is not None:
            audit.record(
                "reset.verify_passed" if passed else "reset.verify_failed",
                request=request, user=user, tenant=request.tenant, method=method,
            )
        if passed is False and taken.locks:
            # One event per lock: the name's, or the (address, name) pair's when only it locked
            # (the name's count had started again after the owner's own reset).
            scopes = taken.locked_scopes
            scope = ResetThrottle.Scope.ACCOUNT if ResetThrottle.Scope.ACCOUNT in scopes else scopes[0]
            audit.record("reset.locked", request=request, user=user, tenant=request.tenant, scope=scope)
    if passed is None:
        _give_back(taken)
        until = _device_retry_at(_method_device(user, method), method)
        return Verdict(Outcome.WAIT, wait_seconds=seconds_until(until) if until else 1)
    if not passed:
        if taken.locks:
            return Verdict(Outcome.LOCKED, locked_until=max(taken.locks.values()))
        return Verdict(Outcome.FAILED, tries_left=taken.tries_left)
    _give_back(taken)
    state["verified"] = [*state.get("verified", []), method]
    state["passed"] = not methods_needed(state, user)
    request.session.cycle_key()
    _save(request, state)
    return Verdict(Outcome.PASSED)


@dataclass(frozen=True)
class _Try:
    """A try taken on counter rows: {(scope, key): start of the window it counts in}, and
    {(scope, key): end of the lock it set} for the counters it brought to their limit."""

    windows: dict
    locks: dict
    tries_left: int = 0  # before the name or the pair locks

    @property
    def locked_scopes(self) -> list[str]:
        return sorted({scope for scope, _key in self.locks})


def _counter_key(value) -> str:
    # Keyed hash: the table never holds sign-in names or addresses in clear.
    return salted_hmac("recovery.reset.counter", value, algorithm="sha256").hexdigest()


def _account_counter(tenant_id, name):
    return ResetThrottle.Scope.ACCOUNT, _counter_key(f"{tenant_id}:{name}")


def _pair_prefix(tenant_id, name) -> str:
    return _counter_key(f"{tenant_id}:{name}")[:32]


def _pair_counter(tenant_id, name, address):
    # The name's half first, so the admin's unlock finds every pair of a name by prefix.
    return ResetThrottle.Scope.PAIR, _pair_prefix(tenant_id, name) + _counter_key(f"pair|{address}")[:32]


def _address_counter(address):
    return ResetThrottle.Scope.ADDRESS, _counter_key(address)


def _locking_counters(tenant_id, name, address) -> list[tuple[str, str]]:
    """The counters that lock a try on `name` from `address`: the name's, and the pair's."""
    counters = [_account_counter(tenant_id, name)]
    if address:
        counters.append(_pair_counter(tenant_id, name, address))
    return counters


def _counters_for(tenant_id, name, address) -> list[tuple[str, str]]:
    """The (scope, key) rows a try on `name` from `address` counts on, in the order they are
    locked: one order for every request, so no two requests ever wait for each other."""
    counters = _locking_counters(tenant_id, name, address)
    if address:
        counters.append(_address_counter(address))
    return sorted(counters)


def _limit(policy, scope) -> int | None:
    """The failures that lock a counter; None for an address, which is never locked (everyone
    behind an office NAT shares it): it is challenged instead (policy.reset_challenge_threshold)."""
    if scope == ResetThrottle.Scope.ADDRESS:
        return None
    return policy.reset_lock_threshold


def _rows(counters):
    return ResetThrottle.objects.filter(
        functools.reduce(operator.or_, (Q(scope=scope, key=key) for scope, key in counters))
    )


@contextmanager
def _counter_store():
    """A database error on the counters (the server gone, a row held too long) becomes
    ResetUnavailable: the caller fails closed."""
    try:
        yield
    except DatabaseError as exc:
        logger.warning("password reset counters unavailable: %s", exc.__class__.__name__)
        raise ResetUnavailable from exc


@contextmanager
def _writing_counters():
    """A transaction for changing counter rows, waiting at most RESET_COUNTER_LOCK_WAIT_MS for a row
    another request holds: a stuck holder makes this fail closed, not pin the web worker."""
    with _counter_store(), transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(f"SET LOCAL lock_timeout = {int(app_settings.RESET_COUNTER_LOCK_WAIT_MS)}")
        yield


def _back_off_until(row, factor):
    """django-otp's back-off (factor × 2^(n−1) s after the n-th failure) on a name's counter."""
    if not factor or not row.failures or row.last_failure_at is None:
        return None
    return row.last_failure_at + timedelta(seconds=factor * 2 ** (row.failures - 1))


def _challenge_due(policy, address_row) -> bool:
    return address_row is not None and address_row.failures >= policy.reset_challenge_threshold


def _take_try(tenant, name, address, method=None, device_retry=None, proof=None):
    """Count a try on every counter before a secret is compared: a _Try, or the Verdict that
    refused it uncounted (LOCKED, WAIT, CHALLENGE).

    The try counts as a failure from here on, so a check that crashes or times out still cost
    it. ResetUnavailable when the counters cannot be written.
    """
    policy = tenant.policy
    counters = _counters_for(tenant.pk, name, address)
    with _writing_counters():
        ResetThrottle.objects.bulk_create(
            [ResetThrottle(scope=scope, key=key) for scope, key in counters], ignore_conflicts=True
        )
        rows = list(_rows(counters).select_for_update().order_by("scope", "key"))
        if len(rows) != len(counters):
            # The daily purge deleted a row between the insert and the lock: uncounted, no check.
            raise ResetUnavailable
        now = timezone.now()
        for row in rows:
            _forget_what_ended(row, now)
        locked = [row.locked_until for row in rows
                  if row.locked_until is not None and _limit(policy, row.scope) is not None]
        if locked:
            return Verdict(Outcome.LOCKED, locked_until=max(locked))
        by_scope = {row.scope: row for row in rows}
        account = by_scope[ResetThrottle.Scope.ACCOUNT]
        waits = [t for t in (_back_off_until(account, _back_off_factor(method)), device_retry) if t]
        if waits and max(waits) > now:
            return Verdict(Outcome.WAIT, wait_seconds=seconds_until(max(waits)))
        if _challenge_due(policy, by_scope.get(ResetThrottle.Scope.ADDRESS)) and not challenge.spend(proof):
            return Verdict(Outcome.CHALLENGE)
        windows, locks, left = {}, {}, []
        for row in rows:
            row.failures += 1
            row.last_failure_at = now
            limit = _limit(policy, row.scope)
            if limit is not None:
                left.append(max(0, limit - row.failures))
                if row.failures >= limit:
                    row.locked_until = locks[row.scope, row.key] = now + timedelta(minutes=policy.reset_lock_minutes)
            windows[row.scope, row.key] = row.window_started
        # One statement for the three rows (they are locked above).
        ResetThrottle.objects.bulk_update(rows, ["failures", "window_started", "locked_until", "last_failure_at"])
    return _Try(windows, locks, tries_left=min(left))


def _forget_what_ended(row, now):
    """A counter whose window or lock is over counts from zero again (a lock is never cut short)."""
    if row.locked_until is not None and row.locked_until > now:
        return
    if row.locked_until is not None or row.window_started is None or row.window_started + app_settings.RESET_FAILURE_WINDOW <= now:
        row.failures, row.window_started, row.locked_until, row.last_failure_at = 0, now, None, None


def _give_back(taken):
    """The check passed (or was refused unchecked), so its try was no failure; a lock it set is
    lifted and the back-off ends, as django-otp's does on a right answer. Only within the window
    the try was taken in: an unlock or a finished reset since then started afresh."""
    try:
        with _writing_counters():
            for (scope, key), window in taken.windows.items():
                counter = ResetThrottle.objects.filter(scope=scope, key=key, window_started=window)
                counter.filter(failures__gt=0).update(failures=F("failures") - 1, last_failure_at=None)
                if (scope, key) in taken.locks:
                    counter.filter(locked_until=taken.locks[scope, key]).update(locked_until=None)
    except ResetUnavailable:
        pass  # the try stays counted: the safe side


def _lock_end(counters):
    with _counter_store():
        return _rows(counters).filter(locked_until__gt=timezone.now()).aggregate(
            end=Max("locked_until")
        )["end"]


def locked_until(tenant, name, address):
    """When the lock on this name (or this name from this client address) ends, or None.
    ResetUnavailable."""
    return _lock_end(_locking_counters(tenant.pk, name, address))


def lock_check(request, state) -> Verdict | None:
    """For pages before the check: a LOCKED or UNAVAILABLE Verdict, or None when the attempt may go on."""
    try:
        until = locked_until(request.tenant, state["name"], audit.client_ip(request))
    except ResetUnavailable:
        return Verdict(Outcome.UNAVAILABLE)
    if until is not None:
        return Verdict(Outcome.LOCKED, locked_until=until)
    return None


def challenge_due(request) -> bool:
    """Whether a try from this client address must first carry a solved proof of work."""
    address = audit.client_ip(request)
    if not address:
        return False
    scope, key = _address_counter(address)
    try:
        with _counter_store():
            row = ResetThrottle.objects.filter(scope=scope, key=key).first()
    except ResetUnavailable:
        return False  # the try itself then fails closed
    if row is None:
        return False
    _forget_what_ended(row, timezone.now())
    return _challenge_due(request.tenant.policy, row)


def reset_lock_state(user):
    """For the admin: until when the user's reset is locked (aware datetime), or None.

    Raises ResetUnavailable when the counters cannot be read.
    """
    return _lock_end([_account_counter(user.tenant_id, normalise_name(user.email))])


def unlock_reset(user, *, actor=None, request=None):
    """For the admin: lift the user's reset lock and forget their failures. ResetUnavailable.

    django-otp's own throttle on the user's devices is cleared too, or the right code would
    still be refused for a while after the unlock. Every (address, name) pair of the name is
    forgotten with it: the help desk has spoken to the person, who may sit where the failures
    came from.
    """
    name = normalise_name(user.email)
    with _writing_counters():
        _rows([_account_counter(user.tenant_id, name)]).delete()
        ResetThrottle.objects.filter(
            scope=ResetThrottle.Scope.PAIR, key__startswith=_pair_prefix(user.tenant_id, name)
        ).delete()
    reset_device_throttles(user)
    audit.record(
        "reset.unlocked", request=request, user=user,
        actor=actor.email if actor is not None else None,
    )


def purge_ended_counters(now=None) -> int:
    """Delete the counters whose window and lock are both over; the number deleted.

    Every name typed leaves a row (decoys count like real names), so they are purged daily.
    """
    now = now or timezone.now()
    ended = ResetThrottle.objects.filter(
        Q(window_started__isnull=True) | Q(window_started__lte=now - app_settings.RESET_FAILURE_WINDOW),
        Q(locked_until__isnull=True) | Q(locked_until__lte=now),
    )
    with _counter_store():
        challenge.purge_expired(now)
        return ended.delete()[0]


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
        end_all_sessions(user)  # in the reset's transaction: what apps are owed is recorded with it
    discard(request)
    try:
        with _writing_counters():
            # The name's count starts again; the (address, name) pairs keep theirs, so an
            # address that was guessing at the name gets no fresh tries from the owner's reset.
            _rows([_account_counter(user.tenant_id, state["name"])]).update(
                failures=0, window_started=None, last_failure_at=None
            )
    except ResetUnavailable:
        pass  # the failures simply age out of their window
    # As allauth's own reset does, and Entra's: the wrong passwords that led here no longer lock
    # the account out of signing in with the new one. Only Redis being down is tolerated here
    # (they age out); anything else, such as allauth renaming this, fails loudly.
    with suppress(*UNAVAILABLE):
        clear_failed_sign_ins(request, email=user.email)
    return user


def reset_device_throttles(user):
    """Clear the failure counters of the user's django-otp devices and security questions."""
    for device in [*devices_for_user(user, confirmed=None), *SecurityQuestionsDevice.objects.filter(user=user)]:
        if isinstance(device, ThrottlingMixin):
            device.throttle_reset()


def end_all_sessions(user):
    """Every access the old password granted ends: the user's sessions and the applications'
    tokens, and the applications are told (accounts.usersessions.end_access)."""
    end_access(user, reason="password_reset")
