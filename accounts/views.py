import django_otp
from allauth.account.stages import LoginStageController
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache

from core.http import safe_next_url

from .forms import OTPCodeForm, OTPRecoveryCodeForm
from .otp import authenticator_device, lookup_secret_devices
from .stages import OTPStage

RECOVERY_CODE = "recovery-code"


@login_required
def home(request):
    return render(request, "accounts/home.html")


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
