import sys

from django.db import InterfaceError, OperationalError
from django.http import HttpResponse
from django.template.loader import render_to_string
from django.views import defaults

from core.errors import UNAVAILABLE


def unavailable_response(request=None):
    """The "try again later" page. Without a request it renders with no context processors,
    so it needs nothing that is down (no session, user or tenant look-up)."""
    response = HttpResponse(render_to_string("503.html", request=request), status=503)
    response["Retry-After"] = "30"
    return response


def server_error(request):
    """handler500: an outage of the database or Redis is a 503 "try again later", not a 500.

    Covers failures in middleware too (the tenant look-up, sessions), which never reach
    ServiceUnavailableMiddleware.process_exception.
    """
    if isinstance(sys.exc_info()[1], (*UNAVAILABLE, OperationalError, InterfaceError)):
        return unavailable_response()
    return defaults.server_error(request)
