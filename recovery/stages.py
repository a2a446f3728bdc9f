from allauth.account.stages import LoginStage


class NudgeStage(LoginStage):
    """"Keep your account secure": asks for recovery methods after sign-in (SPEC.md flow A)."""

    key = "portal_nudge"
    urlname = "recovery_nudge"

    def handle(self):
        return None, True
