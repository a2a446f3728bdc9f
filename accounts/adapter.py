from allauth.account.adapter import DefaultAccountAdapter
from django.db import transaction
from django.utils.translation import gettext_lazy as _

import audit
from core.compat.allauth import LoginAttemptsKeyMixin

from .middleware import apply_language_on_sign_in
from .notifications import notify_password_changed


class AccountAdapter(LoginAttemptsKeyMixin, DefaultAccountAdapter):
    # allauth's texts on our pages, in the portal's words (its Japanese says ログイン; ours
    # サインイン, locale/README.md).
    error_messages = {
        **DefaultAccountAdapter.error_messages,
        "invalid_login": _("The sign-in did not work. Try again."),
        "too_many_login_attempts": _("Too many failed sign-ins. Try again later."),
    }

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

    def post_login(self, request, user, **kwargs):
        # The page after sign-in and its "signed in" message speak the same language.
        apply_language_on_sign_in(request, user)
        return super().post_login(request, user, **kwargs)

    def get_login_stages(self):
        # After the password: the authenticator code where required, then the registration
        # nudge. Both run before the session is logged in, for direct and SSO sign-ins alike.
        return [
            *super().get_login_stages(),
            "accounts.stages.OTPStage",
            "recovery.stages.NudgeStage",
        ]

    def login_attempts_key(self, request, login):
        # The key of allauth's failed sign-in limit per account (core.compat.allauth): the tenant
        # (or the platform) + the login, never the host name, of which a tenant has several.
        # tests/attacks/test_hosts.py guesses over host names and spellings through it.
        tenant = getattr(request, "tenant", None)
        scope = f"tenant-{tenant.pk}" if tenant is not None else "platform"
        return f"{scope}:{login}"

    def set_password(self, user, password):
        """Every password allauth's pages set (change, set): the new hash, its audit record and
        the "your password was changed" e-mail commit together; the outbox sends the e-mail after
        commit. (The user's other sessions end in accounts.signals, once allauth has kept the
        current one.)"""
        with transaction.atomic():
            super().set_password(user, password)
            audit.record("password.changed", request=self.request, user=user, how="change")
            notify_password_changed(user, how="change")
