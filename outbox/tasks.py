"""Celery tasks of the outbox: delivery and the sweeper (outbox.mail does the work).

Each task delivers or sweeps every tenant's e-mail (and the platform's, which has no tenant):
deliberate cross-tenant work, so each runs in tenants.scoping.all_tenants()."""

from celery import shared_task

from tenants.scoping import all_tenants

from . import app_settings, mail


@shared_task(name="outbox.tasks.deliver_email", ignore_result=True)
def deliver_email(outbox_id):
    """Returns what happened to outbox_id ("skipped": already handled or not due)."""
    with all_tenants():
        deliveries = mail.deliver(outbox_id)
    for pk, delivery in deliveries.items():
        if delivery.retry_in is not None:
            mail.enqueue(pk, countdown=delivery.retry_in)
    return deliveries[outbox_id].outcome if outbox_id in deliveries else "skipped"


@shared_task(name="outbox.tasks.deliver_due", ignore_result=True)
def deliver_due():
    """Send every due row, a batch per transaction; a full batch calls in another worker."""
    mail.release_kick()  # rows committed from now on queue a task of their own
    handled = 0
    while True:
        with all_tenants():
            deliveries = mail.deliver()
        for pk, delivery in deliveries.items():
            if delivery.retry_in is not None:
                mail.enqueue(pk, countdown=delivery.retry_in)
        handled += len(deliveries)
        if len(deliveries) < app_settings.DELIVERY_BATCH:
            return handled
        if not deliver_due.app.conf.task_always_eager:
            mail.kick()


@shared_task(name="outbox.tasks.sweep_outbox", ignore_result=True)
def sweep_outbox(overdue_seconds=None):
    with all_tenants():
        return mail.sweep(overdue_seconds)
