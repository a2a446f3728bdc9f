"""Registration pages (docs/product.md flows A–D). The same views serve the sign-in nudge (the pending
sign-in's user) and the security-info page (the signed-in user): see registrant.py."""

import base64
import io
import time
from functools import wraps
from urllib.parse import quote

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from accounts.otp import AuthenticatorCodeForm, authenticator_device

from . import app_settings, policy, services
from .forms import MethodChoiceForm, SecurityQuestionsForm
from .registrant import registrant_for, registrant_required
from .status import METHOD_FLAGS, registration_status

SETUP_SESSION_KEY = "recovery_authenticator_setup"
METHOD_URLS = {
    services.QUESTIONS: "recovery_questions",
    services.AUTHENTICATOR: "recovery_authenticator",
    services.RECOVERY_CODES: "recovery_codes",
}


def _home(registrant):
    return reverse("recovery_nudge" if registrant.in_nudge else "recovery_security_info")


def _methods(registrant):
    """The methods this registrant may set up here."""
    if registrant.in_nudge:
        return policy.methods_offered(registrant.reason(), registrant.policy)
    methods = list(registrant.policy.enabled_methods)
    if registrant.policy.mfa_required and services.AUTHENTICATOR not in methods:
        methods.append(services.AUTHENTICATOR)
    return methods


def _page(request, template, **context):
    context.setdefault("registrant", request.registrant)
    return render(request, template, context)


# --- The nudge ---------------------------------------------------------------------------------

def nudge_only(view):
    """Pages of the sign-in interstitial; a signed-in user has nothing to do there."""

    @wraps(view)
    @registrant_required
    def wrapper(request, *args, **kwargs):
        if not request.registrant.in_nudge:
            return redirect("recovery_security_info")
        return view(request, request.registrant, *args, **kwargs)

    return wrapper


@never_cache
@nudge_only
def nudge(request, registrant):
    status = registration_status(registrant.user)
    reason = registrant.reason(status)
    if reason is None:
        return registrant.stage.exit()
    # The method still missing comes first (policies that ask for two).
    methods = sorted(
        policy.methods_offered(reason, registrant.policy), key=lambda m: m in status.methods
    )
    return _page(
        request, "recovery/nudge.html",
        reason=reason, status=status, methods=methods, first_method=methods[0],
        method_urls={m: reverse(METHOD_URLS[m]) for m in methods},
        skip_allowed=policy.skip_allowed(reason, registrant.policy),
    )


@require_POST
@nudge_only
def nudge_skip(request, registrant):
    reason = registrant.reason()
    if reason is None:
        return registrant.stage.exit()
    if not policy.skip_allowed(reason, registrant.policy):
        messages.error(request, _("Your organisation requires this setup. It can't be skipped."))
        return redirect("recovery_nudge")
    services.record_skip(registrant.user, request=request)
    return registrant.stage.exit()


@require_POST
@nudge_only
def nudge_reconfirm(request, registrant):
    """"My methods are still current": one click, then on to the destination."""
    if registrant.reason() == policy.RECONFIRM:
        services.reconfirm_methods(registrant.user, request=request)
    return _finish(registrant)


def _finish(registrant):
    if registrant.reason() is None:
        return registrant.stage.exit()
    return redirect("recovery_nudge")


@require_POST
@registrant_required
def finish(request):
    """"完了" after a method is registered: on to the destination, or back for more methods."""
    if request.registrant.in_nudge:
        return _finish(request.registrant)
    return redirect("recovery_security_info")


# --- Method picker -----------------------------------------------------------------------------

@never_cache
@registrant_required
def pick_method(request):
    registrant = request.registrant
    methods = _methods(registrant)
    form = MethodChoiceForm(request.POST or None, methods=methods)
    if request.method == "POST" and form.is_valid():
        return redirect(METHOD_URLS[form.cleaned_data["method"]])
    return _page(request, "recovery/pick_method.html", form=form, back_url=_home(registrant))


# --- Security questions ------------------------------------------------------------------------

def method_page(method):
    """A registration page of one method, for a registrant whose policy offers it."""

    def decorator(view):
        @wraps(view)
        @registrant_required
        def wrapper(request, *args, **kwargs):
            if method not in _methods(request.registrant):
                return redirect(_home(request.registrant))
            return view(request, request.registrant, *args, **kwargs)

        return wrapper

    return decorator


@never_cache
@method_page(services.QUESTIONS)
def questions(request, registrant):
    form = SecurityQuestionsForm(
        request.POST or None,
        questions=list(services.questions_offered(registrant.tenant)),
        count=registrant.policy.questions_to_register,
    )
    if request.method == "POST" and form.is_valid():
        services.register_security_questions(registrant.user, form.answers(), request=request)
        return redirect("recovery_questions_done")
    return _page(request, "recovery/questions.html", form=form, back_url=_home(registrant))


@never_cache
@registrant_required
def questions_done(request):
    if services.questions_device(request.registrant.user) is None:
        return redirect("recovery_questions")
    return _page(request, "recovery/done.html", method=services.QUESTIONS)


# --- Authenticator app -------------------------------------------------------------------------

def _pending_setup(request, user):
    """(device, state) of this session's unfinished setup; device None when gone or expired."""
    state = request.session.get(SETUP_SESSION_KEY) or {}
    if time.time() - state.get("started", 0) > app_settings.SETUP_TIMEOUT_SECONDS:
        return None, state
    return services.pending_authenticator(user, state.get("device")), state


def _begin_setup(request, user):
    device = services.start_authenticator_setup(user)
    # The device id only: the secret stays in the database, never in the session.
    request.session[SETUP_SESSION_KEY] = {"device": device.pk, "started": time.time(), "failures": 0}
    return device


@never_cache
@method_page(services.AUTHENTICATOR)
def authenticator(request, registrant):
    """Intro ("get the app"), then "次へ" starts a setup with a fresh secret."""
    if request.method == "POST":
        _begin_setup(request, registrant.user)
        return redirect("recovery_authenticator_scan")
    return _page(request, "recovery/authenticator_intro.html", back_url=_home(registrant))


def _qr_data_uri(text):
    # Imported here: qrcode (with PIL) costs a web worker 7 MB that most requests never need.
    import qrcode
    import qrcode.image.pure

    image = qrcode.make(text, image_factory=qrcode.image.pure.PyPNGImage, box_size=6, border=4)
    buffer = io.BytesIO()
    image.save(buffer)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


@never_cache
@registrant_required
def authenticator_scan(request):
    registrant = request.registrant
    device, _state = _pending_setup(request, registrant.user)
    if device is None:
        messages.error(request, _("Your setup expired. Start again."))
        return redirect("recovery_authenticator")
    secret = services.authenticator_secret(device)
    return _page(
        request, "recovery/authenticator_scan.html",
        qr=_qr_data_uri(services.authenticator_uri(device)),
        account_name=registrant.user.email,
        secret=secret,
        secret_grouped=" ".join(secret[i:i + 4] for i in range(0, len(secret), 4)),
    )


@never_cache
@registrant_required
def authenticator_code(request):
    registrant = request.registrant
    device, state = _pending_setup(request, registrant.user)
    if device is None and request.method != "POST":
        return redirect("recovery_authenticator_scan")
    form = AuthenticatorCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if device is None:
            form.add_error("code", _("This setup has expired. Go back and start again."))
        elif services.verify_authenticator_code(device, form.cleaned_data["code"]):
            services.confirm_authenticator(device, request=request)
            request.session.pop(SETUP_SESSION_KEY, None)
            if registrant.in_nudge:
                registrant.remember("otp_device_id", device.pk)
            return redirect("recovery_authenticator_done")
        else:
            state["failures"] = state.get("failures", 0) + 1
            if state["failures"] >= app_settings.SETUP_MAX_FAILURES:
                _begin_setup(request, registrant.user)
                messages.error(request, _(
                    "Too many wrong codes. Scan this new QR code (the old one no longer works)."
                ))
                return redirect("recovery_authenticator_scan")
            request.session[SETUP_SESSION_KEY] = state
            form.add_error("code", _(
                "That code was not accepted. Wait for the next code in the app and type it."
            ))
    return _page(request, "recovery/authenticator_code.html", form=form)


@never_cache
@registrant_required
def authenticator_done(request):
    if authenticator_device(request.registrant.user) is None:
        return redirect("recovery_authenticator")
    return _page(request, "recovery/done.html", method=services.AUTHENTICATOR)


# --- Recovery codes ----------------------------------------------------------------------------

def _codes_file(registrant, codes):
    """The text file of the download: who the codes are for, the codes, and how to use them."""
    lines = [
        _("Recovery codes"),
        f"{registrant.tenant.name} / {registrant.user.email}",
        _("Generated on %(date)s") % {"date": timezone.localdate().isoformat()},
        "",
        *codes,
        "",
        _("Each code works once: at sign-in instead of the authenticator code, or to reset your password."),
        _("Keep this file somewhere safe, away from your password."),
    ]
    return "\r\n".join(lines) + "\r\n"


@never_cache
@method_page(services.RECOVERY_CODES)
def recovery_codes(request, registrant):
    """GET: what the codes are (and that a new set replaces the old one). POST: a new set, shown
    in this response only: the codes are never stored in clear, so no later page can show them."""
    if request.method == "POST":
        codes = services.generate_recovery_codes(registrant.user, request=request)
        return _page(
            request, "recovery/recovery_codes_show.html", codes=codes,
            download_href="data:text/plain;charset=utf-8," + quote(_codes_file(registrant, codes)),
            download_name=f"recovery-codes-{registrant.tenant.slug}.txt",
        )
    device = services.recovery_codes_device(registrant.user)
    return _page(
        request, "recovery/recovery_codes_intro.html", back_url=_home(registrant),
        codes_left=device.codes.count() if device is not None else None,
    )


# --- Security info -----------------------------------------------------------------------------

@never_cache
@login_required
def security_info(request):
    tenant = getattr(request, "tenant", None)
    if tenant is None:  # request.user comes from the host's tenant scope: this tenant's user
        raise Http404
    registrant = registrant_for(request)
    status = registration_status(request.user)
    rows = []
    codes_enabled = services.RECOVERY_CODES in tenant.policy.enabled_methods
    for method in METHOD_FLAGS:
        if method == services.RECOVERY_CODES and not codes_enabled:
            continue  # not usable anywhere while the tenant disables them
        if method in status.methods:
            rows.append({
                "method": method, "label": services.METHOD_LABELS[method], "since": status.since(method),
                "change_url": reverse(METHOD_URLS[method]),
                "removable": policy.removal_refused(tenant.policy, method) is None,
            })
    device = services.recovery_codes_device(request.user) if codes_enabled else None
    codes_left = device.codes.count() if device is not None else None
    for row in rows:
        if row["method"] == services.RECOVERY_CODES:
            row["codes_left"] = codes_left
    can_add = any(m not in status.methods for m in _methods(registrant))
    return render(request, "recovery/security_info.html", {
        "rows": rows, "can_add": can_add, "codes_left": codes_left,
        "codes_low": codes_left is not None and services.recovery_codes_running_low(codes_left),
    })


@require_POST
@registrant_required
def remove(request, method):
    registrant = request.registrant
    if method not in METHOD_URLS:
        raise Http404
    if registrant.in_nudge:
        return redirect("recovery_nudge")
    refused = policy.removal_refused(registrant.policy, method)
    if refused:
        messages.error(request, refused)
    else:
        services.remove_method(registrant.user, method, request=request)
        messages.success(request, _("%(method)s was removed.") % {"method": services.METHOD_LABELS[method]})
    return redirect("recovery_security_info")
