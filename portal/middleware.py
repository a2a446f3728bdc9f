import logging

from core.errors import UNAVAILABLE
from core.views import healthz

log = logging.getLogger(__name__)


class ServiceUnavailableMiddleware:
    """A shared service (Redis) that is down gives a clear "try again later" page, not a 500.

    Whatever the view was doing is rolled back with its transaction (ATOMIC_REQUESTS is off,
    so each rule function commits its own work atomically), so nothing is half-written.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, UNAVAILABLE):
            from .views import unavailable_response

            log.error("service unavailable: %s", exception.__class__.__name__)
            return unavailable_response(request)
        return None


class HealthCheckMiddleware:
    """Answer /healthz before anything that touches the database (sessions, users, tenants).

    First in MIDDLEWARE: a load balancer asking while PostgreSQL is down gets the health view's
    503, not a 500 from some middleware's query; any host may ask (it reveals nothing).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path == "/healthz" and request.method in ("GET", "HEAD"):
            return healthz(request)
        return self.get_response(request)
