"""The admin site: organisation admins on their tenant's host, superusers on the platform host.

Entering needs a confirmed authenticator and a code entered in this session (django-otp's
is_verified(), as django-two-factor-auth's AdminSiteOTPRequired checks it). Sign-in and the
password change are the portal's own allauth pages; the admin's own forms are never shown.
"""

from functools import wraps
from urllib.parse import urlencode

from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _
from two_factor.admin import AdminSiteOTPRequired

from core.http import safe_next_url
from tenants.scoping import all_tenants


class PortalAdminSite(AdminSiteOTPRequired):
    site_header = _("Identity portal administration")
    site_title = _("Identity portal administration")
    index_title = _("Organisation administration")
    # There is no public site to link to from the admin: the portal home is the tenant's.
    site_url = "/"

    def has_permission(self, request):
        # Staff of this host's tenant (or a superuser on the platform host), verified by a code.
        from .scoping import is_org_admin, is_platform_admin

        if not (is_org_admin(request) or is_platform_admin(request)):
            return False
        return super().has_permission(request)

    def admin_view(self, view, cacheable=False):
        """Every admin page; a platform superuser's run across all tenants (tenants.scoping),
        an org admin's stay in their host's tenant scope (the middleware's)."""
        from .scoping import is_platform_admin

        inner = super().admin_view(view, cacheable)

        @wraps(inner)
        def scoped(request, *args, **kwargs):
            if not is_platform_admin(request):
                return inner(request, *args, **kwargs)
            with all_tenants():
                response = inner(request, *args, **kwargs)
                if callable(getattr(response, "render", None)):
                    response.render()  # the page's template reads rows too: in the same scope
                return response

        return scoped

    def login(self, request, extra_context=None):
        """Where the admin sends anyone it does not let in (never a loop, never its own form)."""
        from .scoping import is_org_admin, is_platform_admin

        next_url = safe_next_url(request, default="admin:index")
        query = urlencode({"next": next_url}, safe="/")
        if not request.user.is_authenticated:
            return redirect(f"{reverse('account_login')}?{query}")
        if is_org_admin(request) or is_platform_admin(request):
            if self.has_permission(request):
                return redirect(next_url)
            # Signed in but no code this session: the step-up page, then back here.
            return redirect(f"{reverse('accounts_otp_verify')}?{query}")
        # Signed in, but not an admin of this host: sending them to sign-in would loop.
        raise PermissionDenied

    def password_change(self, request, extra_context=None):
        """One password-change flow: the portal's own page, rate-limited per user, which tells
        the user by e-mail and ends their other sessions. Django's form here had no limit."""
        query = urlencode({"next": reverse("admin:index", current_app=self.name)}, safe="/")
        return redirect(f"{reverse('account_change_password')}?{query}")

    def password_change_done(self, request, extra_context=None):
        return redirect("admin:index")

    def report(self, request):
        from .report import report_view

        return report_view(request, self.each_context(request))

    def get_urls(self):
        return [
            path("report/", self.admin_view(self.report), name="portal_report"),
            *super().get_urls(),
        ]
