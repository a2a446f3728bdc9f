import django_otp
from allauth.account.stages import LoginStageController
from allauth.usersessions.models import UserSession
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

import audit
from core.http import safe_next_url

from . import home as my_account
from .forms import OTPCodeForm, OTPRecoveryCodeForm
from .otp import authenticator_device, lookup_secret_devices
from .stages import OTPStage
from .usersessions import end_access

RECOVERY_CODE = "recovery-code"


@never_cache
@login_required
def home(request):
    """My account: the user's security at a glance (accounts.home's panels)."""
    return render(request, "accounts/home.html", {"panels": my_account.panels_for(request)})


@require_POST
@login_required
def end_session(request, session_id):
    """Sign out one of the user's other sessions (a browser left signed in elsewhere)."""
    user_session = UserSession.objects.filter(pk=session_id, user=request.user).first()
    if user_session is None or user_session.session_key == request.session.session_key:
        raise Http404
    user_session.end()
    audit.record("session.ended", request=request, user=request.user)
    messages.success(request, _("That session is signed out."))
    return redirect("home")


@require_POST
@login_required
def end_other_sessions(request):
    # Every other session, and every token the applications hold (they are told: sso).
    end_access(request.user, reason="signed_out_everywhere", keep_session_key=request.session.session_key)
    audit.record("sessions.ended_elsewhere", request=request, user=request.user)
    messages.success(request, _("You are signed out everywhere else."))
    return redirect("home")


@require_POST
@login_required
def choose_language(request):
    """The language of the portal's pages and e-mails for this user, kept with the account."""
    language = request.POST.get("language")
    if language not in dict(settings.LANGUAGES):
        messages.error(request, _("Choose one of the languages offered."))
        return redirect("home")
    request.user.language = language
    request.user.save(update_fields=["language"])
    response = redirect("home")
    # The cookie as Django's set_language writes it, so the choice also holds once signed out.
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME, language, max_age=settings.LANGUAGE_COOKIE_AGE,
        path=settings.LANGUAGE_COOKIE_PATH, domain=settings.LANGUAGE_COOKIE_DOMAIN,
        secure=settings.LANGUAGE_COOKIE_SECURE, httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
        samesite=settings.LANGUAGE_COOKIE_SAMESITE,
    )
    return response


@never_cache
def otp_login(request):
    """The code page of the sign-in (OTPStage): the user is not signed in yet."""
    stage = LoginStageController.enter(request, OTPStage.key)
    if stage is None:
        return redirect("account_login")
    user = stage.login.user
    device = authenticator_device(user)
    if device is None:
        return stage.exit()
    # "Use a recovery code instead" (the phone is not at hand): the same step, another device.
    backup_devices = lookup_secret_devices(user, getattr(request, "tenant", None))
    if backup_devices and request.GET.get("use") == RECOVERY_CODE:
        form = OTPRecoveryCodeForm(request.POST or None, devices=backup_devices, request=request, user=user)
        if request.method == "POST" and form.is_valid():
            user.otp_device = form.device
            return stage.exit()
        return render(request, "account/otp_login.html", {"form": form, "use": RECOVERY_CODE})
    form = OTPCodeForm(request.POST or None, device=device, request=request, user=user)
    if request.method == "POST" and form.is_valid():
        # django-otp's user_logged_in receiver marks the new session verified with this device.
        user.otp_device = device
        return stage.exit()
    return render(request, "account/otp_login.html", {"form": form, "can_use_recovery_code": bool(backup_devices)})


@never_cache
@login_required
def otp_verify(request):
    """Step-up: a signed-in user who is not yet verified enters the code (admin gate, policy)."""
    next_url = safe_next_url(request)
    if request.user.is_verified():
        return redirect(next_url)
    device = authenticator_device(request.user)
    form = None
    if device is not None:
        form = OTPCodeForm(request.POST or None, device=device, request=request, user=request.user)
        if request.method == "POST" and form.is_valid():
            django_otp.login(request, device)
            # A new session key once the session gains the second factor (fixation).
            request.session.cycle_key()
            return redirect(next_url)
    return render(request, "account/otp_verify.html", {"form": form, "next": next_url})
