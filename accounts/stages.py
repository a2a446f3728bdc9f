from allauth.account.stages import LoginStage
from django.shortcuts import redirect

from .otp import authenticator_device, mfa_required


class OTPStage(LoginStage):
    """The authenticator-code step after the password (MFA at sign-in, admins).

    Users who must use MFA but have no device yet are left to the registration nudge, which runs
    next and makes them register one.
    """

    key = "portal_otp"
    urlname = "accounts_otp_login"

    def handle(self):
        user = self.login.user
        if not mfa_required(user, getattr(self.request, "tenant", None)):
            return None, True
        if authenticator_device(user) is None:
            return None, True
        # A response with "continue" stashes the login until the code page calls exit().
        return redirect(self.urlname), True
