from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache


@login_required
def home(request):
    return render(request, "accounts/home.html")


@never_cache
def healthz(request):
    """For load balancers: 200 when the database answers, 503 when it does not."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:  # noqa: BLE001 - any database failure means "not ready"
        return JsonResponse({"database": "down"}, status=503)
    return JsonResponse({"database": "ok"})


@login_required
def otp_verify(request):
    # Placeholder until the authenticator-code step lands.
    from django.http import HttpResponse

    return HttpResponse(status=501)
