from allauth.account.adapter import DefaultAccountAdapter


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request):
        # Accounts are created by organisation admins, never by visitors.
        return False

    def pre_login(self, request, user, **kwargs):
        response = super().pre_login(request, user, **kwargs)
        if response is None:
            # The password has just been accepted: a new session key before the code step or
            # the nudge stashes the pending sign-in in the session, so an id planted in the
            # browser beforehand gets nothing (fixation). Django's login() cycles it again.
            request.session.cycle_key()
        return response

    def get_login_stages(self):
        # After the password: the authenticator code where required, then the registration
        # nudge. Both run before the session is logged in, for direct and SSO sign-ins alike.
        return [
            *super().get_login_stages(),
            "accounts.stages.OTPStage",
            "recovery.stages.NudgeStage",
        ]
