from allauth.account.stages import LoginStage
from django.shortcuts import redirect

from accounts.otp import authenticator_device

from . import policy, services


class NudgeStage(LoginStage):
    """"Keep your account secure": asks for recovery methods after sign-in (docs/product.md flow A).

    Runs before the session is logged in, so until it exits nothing else of the portal is
    reachable; skipping (where allowed) or registering exits it.
    """

    key = "portal_nudge"
    urlname = "recovery_nudge"

    def handle(self):
        # One query decides (the policy came with request.tenant); a nudge adds its record.
        reason = policy.nudge_reason(self.login.user, getattr(self.request, "tenant", None))
        if reason is None:
            return None, True
        # Recorded here, once per sign-in: the page itself then writes nothing (not even the
        # session), however often it is shown.
        services.record_nudge_shown(self.login.user, request=self.request, reason=reason)
        return redirect(self.urlname), True

    def exit(self):
        # A code from the authenticator registered during this sign-in proves the second
        # factor: django-otp's user_logged_in receiver then marks the session verified.
        device_id = self.state.get("otp_device_id")
        if device_id:
            device = authenticator_device(self.login.user)
            if device is not None and device.pk == device_id:
                self.login.user.otp_device = device
        return super().exit()
