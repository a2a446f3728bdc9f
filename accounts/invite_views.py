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
        user = super().get_user(uidb64)
        tenant = getattr(self.request, "tenant", None)
        # Another tenant's link is simply invalid here: it does not say the account exists.
        if user is None or tenant is None or user.tenant_id != tenant.pk or not user.is_active:
            return None
        return user

    def form_valid(self, form):
        response = super().form_valid(form)
        audit.record("password.changed", request=self.request, user=form.user, how="invite")
        return response


class InviteDoneView(TemplateView):
    template_name = "accounts/invite_done.html"
