from allauth.account.adapter import DefaultAccountAdapter
from django.db import transaction

import audit

from .notifications import notify_password_changed


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

    def _get_login_attempts_cache_key(self, request, **credentials):
        # Compat entry, allauth private API (allauth/account/adapter.py, 65.x): the key of the
        # per-account failed sign-in limit, read by pre_authenticate and cleared by
        # _delete_login_attempts_cached_email (our password reset). allauth's is the site's
        # domain, i.e. the request's host, + the login: each host name of a tenant had its own
        # count. Overriding it is what allauth's author advises (pennersr/django-allauth#3584).
        # Here: the tenant (or the platform) + the login as allauth looks the account up.
        # tests/attacks/test_hosts.py guesses over host names and spellings through it.
        tenant = getattr(request, "tenant", None)
        scope = f"tenant-{tenant.pk}" if tenant is not None else "platform"
        login = credentials.get("email", credentials.get("username", "")).lower()
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
