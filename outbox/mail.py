"""The outbox: every e-mail is first a row written with the event that causes it, then sent.

queue() writes the row in the caller's transaction and, after commit, kick() makes sure a
delivery task is on its way (one for a burst); deliver() claims due rows (row lock, SKIP LOCKED)
and sends each at most once, backing off exponentially on SMTP errors until OUTBOX_MAX_ATTEMPTS;
sweep() re-queues rows whose delivery is overdue, so a broker outage or a lost task delays an
e-mail but never loses it. outbox.tasks wraps these as Celery tasks; outbox.kinds says, for
each kind of e-mail, where its link goes and when it is no longer wanted.
"""

import logging
import smtplib
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import formataddr

from django.conf import settings
from django.core.cache import cache
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import IntegrityError, transaction
from django.db.models import Case, F, When
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from core.sites import public_url
from tenants.branding import accent_of, logo_path
from tenants.resolution import tenant_url

from . import app_settings, kinds
from .models import OutboxEmail

logger = logging.getLogger(__name__)



# --- Queueing (web side) --------------------------------------------------------------------

def queue(kind, *, user=None, to_email=None, tenant=None, language=None, context=None,
          dedupe_key=None):
    """Record an e-mail in the caller's transaction; Celery delivers it after commit.

    With a dedupe_key, an e-mail already queued under that key is not queued again (None).
    """
    fields = dict(
        kind=kind,
        user=user,
        tenant=tenant if tenant is not None else (user.tenant if user is not None else None),
        to_email=to_email or user.email,
        language=language or (user.language if user is not None else settings.LANGUAGE_CODE),
        context=context or {},
        dedupe_key=dedupe_key,
    )
    if dedupe_key:
        try:
            with transaction.atomic():
                row = OutboxEmail.objects.create(**fields)
        except IntegrityError:
            return None
    else:
        row = OutboxEmail.objects.create(**fields)
    transaction.on_commit(kick, robust=True)
    return row


# Set while a delivery task is queued and not started yet; the task deletes it when it starts.
# Rows committed meanwhile need no task of their own: that task will find them. A burst of
# e-mails (many skips at once) thus costs a few tasks, not one per e-mail.
KICK_KEY = "outbox:delivery-queued"


def retry_failed(queryset) -> int:
    """Admin action: failed e-mails go back to pending with fresh attempts, sent right away."""
    from .models import OutboxEmail

    count = queryset.filter(state=OutboxEmail.State.FAILED).update(
        state=OutboxEmail.State.PENDING, attempts=0, next_attempt_at=timezone.now(), last_error=""
    )
    if count:
        transaction.on_commit(kick)
    return count


def kick() -> bool:
    """After commit: make sure a delivery task is on its way. Never raises (see enqueue)."""
    from .tasks import deliver_due

    try:
        if not cache.add(KICK_KEY, 1, app_settings.KICK_TTL_SECONDS):
            return True
    except Exception as exc:  # noqa: BLE001 - no cache: one task per e-mail, still correct
        logger.warning("outbox: cache unavailable (%s), queueing without coalescing", exc)
    return publish(deliver_due, (), on_failure=release_kick)


def release_kick():
    try:
        cache.delete(KICK_KEY)
    except Exception as exc:  # noqa: BLE001 - the key expires by itself
        logger.warning("outbox: cache unavailable (%s)", exc)


def enqueue(outbox_id, *, countdown=None) -> bool:
    """Ask a worker to deliver a row. A broker failure is logged, never raised: the row stays
    pending and the sweeper queues it again."""
    from .tasks import deliver_email

    if countdown and deliver_email.app.conf.task_always_eager:
        # Eager mode ignores countdowns: retrying now would spend every attempt at once.
        return False
    return publish(deliver_email, (outbox_id,), countdown=countdown)


def publish(task, args, *, countdown=None, on_failure=None) -> bool:
    """Queue a Celery task; on a broker failure log it and return False, never raise. For every
    row-first delivery (the e-mails here, sso's back-channel logouts): the row stays pending
    and its sweeper queues it again."""
    try:
        task.apply_async(args, countdown=countdown)
    except Exception as exc:  # noqa: BLE001 - kombu/redis raise many types; all mean "not queued"
        logger.warning("outbox: %s%s not queued (%s: %s); the sweeper will send it",
                       task.name, args, exc.__class__.__name__, exc)
        if on_failure is not None:
            on_failure()
        return False
    return True


# --- Delivery (worker side) -----------------------------------------------------------------

@dataclass
class Delivery:
    outcome: str  # "sent", "skipped", "retry", "failed", "cancelled"
    retry_in: float | None = None


def retry_delay(attempts: int) -> float:
    return min(app_settings.RETRY_BASE_SECONDS * 2 ** (attempts - 1),
               app_settings.RETRY_MAX_SECONDS)


def deliver(outbox_id=None, *, batch=None) -> dict:
    """Send the row outbox_id (if given) and up to `batch` due rows, each at most once, however
    often their tasks run (even concurrently). Returns {row id: Delivery} for the rows handled.

    The rows are claimed with a row lock (SKIP LOCKED): a second task skips what the first holds,
    and finds the rows sent once the first commits. Taking several due rows per transaction and
    SMTP connection is what keeps a burst (many skips at once) fast.
    """
    now = timezone.now()
    due = dict(state=OutboxEmail.State.PENDING, next_attempt_at__lte=now + app_settings.EARLY_TOLERANCE)
    if outbox_id is not None and not OutboxEmail.objects.filter(pk=outbox_id, **due).exists():
        # Already sent by a batch (the common case in a burst), failed, or not due yet: a
        # cheap look instead of a locking transaction.
        return {}
    batch = app_settings.DELIVERY_BATCH if batch is None else batch
    with transaction.atomic():
        claim = (
            OutboxEmail.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("tenant", "user")
            .filter(**due)
        )
        if outbox_id is not None:  # the task's own row first
            claim = claim.order_by(Case(When(pk=outbox_id, then=0), default=1), "next_attempt_at")
        else:
            claim = claim.order_by("next_attempt_at")
        rows = list(claim[:batch])
        deliveries = {}
        # Render the whole batch first, then send: the SMTP exchanges run back to back.
        sites = {}  # tenant id -> site root URL, looked up once per batch
        ready = []
        for row in rows:
            row.attempts += 1
            outcome = _render(row, sites)
            if isinstance(outcome, Delivery):
                deliveries[row.pk] = outcome
            else:
                ready.append((row, outcome))
        for row, message in ready:
            deliveries[row.pk] = _send_row(row, message, now)
        _save(rows, deliveries)
    return deliveries


def _render(row, sites):
    """The row's message, or the Delivery that ends it without sending."""
    if not still_wanted(row):
        return _finish(row, OutboxEmail.State.CANCELLED, "no longer needed")
    try:
        return build_message(row, sites=sites)
    except Exception as exc:  # noqa: BLE001 - a broken template will not mend by retrying
        logger.exception("outbox %s cannot be rendered", row.pk)
        return _finish(row, OutboxEmail.State.FAILED, _describe(exc))


def _send_row(row, message, now) -> Delivery:
    try:
        send(message)
    except (smtplib.SMTPException, OSError) as exc:
        if row.attempts >= app_settings.MAX_ATTEMPTS:
            logger.error("outbox %s failed after %s attempts: %s", row.pk, row.attempts,
                         _describe(exc))
            return _finish(row, OutboxEmail.State.FAILED, _describe(exc))
        delay = retry_delay(row.attempts)
        row.last_error = _describe(exc)
        row.next_attempt_at = now + timedelta(seconds=delay)
        return Delivery("retry", retry_in=delay)
    return _finish(row, OutboxEmail.State.SENT, "")


def _finish(row, state, error):
    row.state = state
    row.last_error = error
    return Delivery(str(state))


def _save(rows, deliveries):
    # The usual outcome in one UPDATE (bulk_update's CASE per field and row costs more CPU than
    # the sending); the rest, rare, row by row.
    sent = [row for row in rows if deliveries[row.pk].outcome == OutboxEmail.State.SENT]
    if sent:
        OutboxEmail.objects.filter(pk__in=[row.pk for row in sent]).update(
            state=OutboxEmail.State.SENT, attempts=F("attempts") + 1, last_error="",
            sent_at=timezone.now(),
        )
    for row in rows:
        if deliveries[row.pk].outcome != OutboxEmail.State.SENT:
            row.save(update_fields=["state", "attempts", "last_error", "next_attempt_at"])


def _describe(exc) -> str:
    return f"{exc.__class__.__name__}: {exc}"[:500]


def still_wanted(row) -> bool:
    try:
        kind = kinds.registered(row.kind)
    except LookupError:  # not sendable either: build_message fails the row with the reason
        return kinds.recipient_active(row)
    return kind.still_wanted(row)


def sweep(overdue_seconds=None) -> int:
    """Queue again the pending rows whose attempt is overdue; returns how many."""
    if overdue_seconds is None:
        overdue_seconds = app_settings.SWEEP_AFTER_SECONDS
    cutoff = timezone.now() - timedelta(seconds=overdue_seconds)
    ids = list(
        OutboxEmail.objects.filter(state=OutboxEmail.State.PENDING, next_attempt_at__lte=cutoff)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:app_settings.SWEEP_BATCH]
    )
    queued = sum(enqueue(pk) for pk in ids)
    if ids:
        logger.info("outbox sweep: %s overdue, %s queued", len(ids), queued)
    return queued


# --- Rendering ------------------------------------------------------------------------------

def _platform_site() -> str:
    # Platform operators (no tenant) sign in on the platform host.
    return public_url(settings.PLATFORM_HOSTS[0], "")


def build_message(row, *, sites=None) -> EmailMultiAlternatives:
    """Subject and bodies in the row's language; the tenant's display name as sender name."""
    tenant = row.tenant
    sites = {} if sites is None else sites
    if row.tenant_id not in sites:
        # Once per tenant and batch: the site URL and the branding every e-mail of it shows.
        site = tenant_url(tenant, "") if tenant is not None else _platform_site()
        logo = logo_path(tenant)
        sites[row.tenant_id] = {"site": site, "accent_colour": accent_of(tenant),
                                "logo_url": site + logo if logo else None}
    site = sites[row.tenant_id]["site"]
    with translation.override(row.language):
        tenant_name = tenant.name if tenant is not None else _("Identity portal")
        context = {
            **row.context,
            "link": site + kinds.registered(row.kind).link_path(row),
            "tenant_name": tenant_name,
            "accent_colour": sites[row.tenant_id]["accent_colour"],
            "logo_url": sites[row.tenant_id]["logo_url"],
            "name": row.user.get_full_name() if row.user is not None else row.to_email,
            "to_email": row.to_email,
        }
        if "changed_at" in context:
            context["changed_at"] = datetime.fromisoformat(context["changed_at"])
        template = f"emails/{row.kind}"
        subject = " ".join(render_to_string(f"{template}/subject.txt", context).split())
        text = render_to_string(f"{template}/body.txt", context)
        html = render_to_string(f"{template}/body.html", context)
    sender_name = " ".join(str(tenant_name).split())  # no line breaks in a header
    message = EmailMultiAlternatives(
        subject=subject,
        body=text,
        from_email=formataddr((sender_name, settings.DEFAULT_FROM_EMAIL)),
        to=[row.to_email],
        headers={"Auto-Submitted": "auto-generated", "X-Outbox-ID": str(row.pk)},
    )
    message.attach_alternative(html, "text/html")
    return message


# --- SMTP -----------------------------------------------------------------------------------

# One open connection per worker thread, reused across tasks: opening one per e-mail costs
# more than sending it.
_local = threading.local()


def _connection():
    key = (settings.EMAIL_BACKEND, settings.EMAIL_HOST, settings.EMAIL_PORT)
    if getattr(_local, "key", None) != key or _local.connection is None:
        close_connection()
        connection = get_connection(fail_silently=False)
        connection.open()
        _local.key, _local.connection = key, connection
        return connection, True
    return _local.connection, False


def close_connection():
    connection = getattr(_local, "connection", None)
    _local.connection = None
    if connection is not None:
        try:
            connection.close()
        except Exception as exc:  # noqa: BLE001 - closing a broken connection may fail in any way
            logger.debug("closing the SMTP connection: %s", exc)


def send(message):
    connection, fresh = _connection()
    try:
        connection.send_messages([message])
    except smtplib.SMTPServerDisconnected:
        close_connection()
        if fresh:
            raise
        # The server dropped an idle connection: one more try on a new one.
        connection, _fresh = _connection()
        try:
            connection.send_messages([message])
        except Exception:
            close_connection()
            raise
    except Exception:
        close_connection()
        raise
