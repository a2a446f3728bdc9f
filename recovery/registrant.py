"""Who is registering methods on this request: the pending sign-in's user inside the nudge, or the
signed-in user on the security-info page. One set of views and forms serves both."""

import time
from dataclasses import dataclass
from functools import wraps

from allauth.account.authentication import get_authentication_records
from allauth.account.stages import LoginStageController
from allauth.core.exceptions import ReauthenticationRequired
from django.conf import settings
from django.contrib.auth.views import redirect_to_login

from core.compat.allauth import save_stage_state

from . import policy
from .stages import NudgeStage


@dataclass
class Registrant:
    user: object
    tenant: object
    stage: NudgeStage | None = None  # set inside the sign-in nudge

    @property
    def in_nudge(self):
        return self.stage is not None

    @property
    def policy(self):
        return self.tenant.policy if self.tenant is not None else None

    def reason(self, status=None):
        return policy.nudge_reason(self.user, self.tenant, status)

    def remember(self, key, value):
        """Keep a fact for the rest of the nudge (it lives in the pending sign-in)."""
        self.stage.state[key] = value
        save_stage_state(self.stage)


def registrant_for(request):
    tenant = getattr(request, "tenant", None)
    if request.user.is_authenticated:
        return Registrant(request.user, tenant)
    stage = LoginStageController.enter(request, NudgeStage.key)
    if stage is not None and stage.login.user is not None:
        return Registrant(stage.login.user, tenant, stage)
    return None


def signed_in_recently(request) -> bool:
    """The password was typed (sign-in or re-authentication) within the last 15 minutes."""
    records = get_authentication_records(request, request.user)
    latest = max((r.get("at", 0) for r in records), default=0)
    return time.time() - latest < settings.ACCOUNT_REAUTHENTICATION_TIMEOUT


def registrant_required(view):
    """Resolve request.registrant; outside the nudge, changes need a recent sign-in.

    Inside the nudge the password was just typed; a signed-in session older than 15 minutes
    goes through allauth's re-authentication, which then replays this request.
    """

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        registrant = registrant_for(request)
        # Its user was looked up in the host's tenant scope (tenants.scoping): this tenant's.
        if registrant is None or registrant.tenant is None:
            return redirect_to_login(request.get_full_path())
        if not registrant.in_nudge and not signed_in_recently(request):
            raise ReauthenticationRequired()
        request.registrant = registrant
        return view(request, *args, **kwargs)

    return wrapper
