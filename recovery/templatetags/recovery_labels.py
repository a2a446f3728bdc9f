"""The names of recovery methods and registration statuses in templates (pages and e-mails),
from their one definition."""

from django import template

from recovery.services import METHOD_LABELS
from recovery.status import STATUS_LABELS

register = template.Library()


@register.filter
def method_label(method):
    return METHOD_LABELS.get(method, method)


@register.filter
def status_label(status):
    return STATUS_LABELS.get(status, status)
