import logging

from django.shortcuts import render
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger(__name__)
UNAVAILABLE = (RedisConnectionError, RedisTimeoutError, ConnectionRefusedError)


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
            log.error("service unavailable: %s", exception.__class__.__name__)
            response = render(request, "503.html", status=503)
            response["Retry-After"] = "30"
            return response
        return None
