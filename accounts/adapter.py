from allauth.account.adapter import DefaultAccountAdapter


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request):
        # Accounts are created by organisation admins, never by visitors.
        return False

    def get_login_stages(self):
        # After the password: the authenticator code where required, then the registration
        # nudge. Both run before the session is logged in, for direct and SSO sign-ins alike.
        return [
            *super().get_login_stages(),
            "accounts.stages.OTPStage",
            "recovery.stages.NudgeStage",
        ]
