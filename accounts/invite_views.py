"""The invitation landing page: a new user sets a first password on their tenant's host."""

from django.contrib.auth import views as auth_views
from django.urls import reverse_lazy
from django.utils.translation import gettext_lazy as _
from django.views.generic import TemplateView

import audit

from .invites import invite_tokens


class InviteSetPasswordView(auth_views.PasswordResetConfirmView):
    """Django's reset-confirm flow (the token moves to the session, then a set-password form with
    the password validators), with an invitation token and the user bound to this host's tenant."""

    token_generator = invite_tokens
    template_name = "accounts/invite_set_password.html"
    success_url = reverse_lazy("accounts_invite_done")
    title = _("Set your password")

    def get_user(self, uidb64):
        # The platform host invites nobody. On a tenant's host the look-up runs in its scope
        # (tenants.scoping): another tenant's link is simply invalid here, never "exists".
        if getattr(self.request, "tenant", None) is None:
            return None
        user = super().get_user(uidb64)
        if user is None or not user.is_active:
            return None
        return user

    def form_valid(self, form):
        response = super().form_valid(form)
        audit.record("password.changed", request=self.request, user=form.user, how="invite")
        return response


class InviteDoneView(TemplateView):
    template_name = "accounts/invite_done.html"
