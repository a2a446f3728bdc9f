"""The password reset wizard (docs/product.md flow E). Thin: every rule is in recovery.reset."""

import json
from functools import wraps

from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect

from accounts.otp import wait_message

from . import challenge, reset, services
from .reset_forms import (
    AnswersForm,
    CodeForm,
    MethodForm,
    NewPasswordForm,
    RecoveryCodeForm,
    StartForm,
)

DONE_FLAG = "portal_password_reset_done"
REFUSED_MESSAGES = {
    reset.REFUSED_EXPIRED: _("Your password reset took longer than 15 minutes. Please start again."),
    reset.REFUSED_MISSING: _("Please start the password reset from the beginning."),
}
FAILED_MESSAGES = {
    services.QUESTIONS: _("The answers are not correct. Check them and try again."),
    services.AUTHENTICATOR: _("The code is not correct. Enter the code the app shows now."),
    services.RECOVERY_CODES: _("The recovery code is not correct, or it was already used. Try another of your codes."),
}
CHALLENGE_MESSAGE = _(
    "Many failed attempts came from your network, so your browser first solves a short puzzle "
    "(a few seconds). Your answer was not checked yet: send it again when the puzzle is solved."
)
STEP_COUNT = 4


def tries_left_message(count):
    return ngettext(
        "You have %(count)d more try before password reset is locked.",
        "You have %(count)d more tries before password reset is locked.",
        count,
    ) % {"count": count}


def wizard_step(step=None):
    """Tenant host only; for a step after the first, a live state that has reached it."""

    def decorate(view):
        @wraps(view)
        @never_cache
        @csrf_protect
        def wrapper(request, *args, **kwargs):
            if request.tenant is None:
                return render(request, "recovery/reset/not_here.html")
            if step is None:
                return view(request, *args, **kwargs)
            try:
                state = reset.load(request, step)
            except reset.WizardRefused as refused:
                messages.error(request, REFUSED_MESSAGES[refused.reason])
                return redirect("account_reset_password")
            return view(request, state, *args, **kwargs)

        return wrapper

    return decorate


def _posted(request):
    # Not `request.POST or None`: the two-method page posts no field at all.
    return request.POST if request.method == "POST" else None


def _render(request, template, context, status=200):
    return render(request, f"recovery/reset/{template}", {"step_count": STEP_COUNT, **context}, status=status)


def _refusal(request, verdict):
    if verdict.outcome is reset.Outcome.LOCKED:
        policy = request.tenant.policy
        return _render(request, "locked.html", {
            "until": verdict.locked_until,
            "time_zone": policy.zone,
            "helpdesk_text": policy.helpdesk_text,
        }, status=429)
    return _render(request, "unavailable.html", {}, status=503)


@wizard_step()
def start(request):
    form = StartForm(_posted(request))
    if form.is_bound and form.is_valid():
        reset.start(request, form.cleaned_data["email"])
        return redirect("recovery_reset_method")
    return _render(request, "start.html", {"form": form, "step": 1})


@wizard_step(reset.STEP_METHOD)
def choose_method(request, state):
    form = MethodForm(request.tenant, _posted(request))
    if form.is_bound and form.is_valid():
        reset.choose_methods(request, state, form.chosen_methods())
        return redirect("recovery_reset_verify")
    return _render(request, "method.html", {"form": form, "step": 2})


@wizard_step(reset.STEP_VERIFY)
def verify(request, state):
    refused = reset.lock_check(request, state)
    if refused is not None:
        return _refusal(request, refused)
    needed = reset.methods_needed(state, reset.state_user(request, state))
    if not needed:
        return redirect("recovery_reset_password")
    method = needed[0]
    if method == services.QUESTIONS:
        form = AnswersForm(reset.questions_to_ask(request, state), _posted(request))
    elif method == services.RECOVERY_CODES:
        form = RecoveryCodeForm(_posted(request))
    else:
        form = CodeForm(_posted(request))
    if form.is_bound and form.is_valid():
        verdict = reset.verify(request, state, method, form.token(), request.POST.get(challenge.FIELD))
        if verdict.outcome is reset.Outcome.PASSED:
            return redirect("recovery_reset_verify")
        if verdict.outcome in (reset.Outcome.LOCKED, reset.Outcome.UNAVAILABLE):
            return _refusal(request, verdict)
        if verdict.outcome is reset.Outcome.FAILED:
            form.add_error(None, FAILED_MESSAGES[method])
            form.add_error(None, tries_left_message(verdict.tries_left))
        elif verdict.outcome is reset.Outcome.WAIT:
            form.add_error(None, wait_message(verdict.wait_seconds))
        else:
            form.add_error(None, CHALLENGE_MESSAGE)
    puzzle = challenge.new_challenge() if reset.challenge_due(request) else None
    return _render(request, "verify.html", {
        "challenge": puzzle,
        "challenge_json": json.dumps(puzzle) if puzzle else "",
        "form": form,
        "step": 3,
        "method": method,
        "method_label": services.METHOD_LABELS[method],
        "also_required": reset.extra_method_required(state),
    })


@wizard_step(reset.STEP_PASSWORD)
def new_password(request, state):
    user = reset.state_user(request, state)
    form = NewPasswordForm(user, _posted(request))
    if form.is_bound and form.is_valid():
        reset.complete(request, state, form.cleaned_data["new_password1"])
        request.session[DONE_FLAG] = True
        return redirect("recovery_reset_done")
    return _render(request, "password.html", {"form": form, "step": 4})


@wizard_step()
def done(request):
    if not request.session.pop(DONE_FLAG, False):
        messages.error(request, REFUSED_MESSAGES[reset.REFUSED_MISSING])
        return redirect("account_reset_password")
    return _render(request, "done.html", {})
