"""Django admin for SSO: a tenant's admins register their own applications; platform operators
see and rotate each tenant's signing keys.

Replaces allauth's Client/Token admin (which shows every tenant's rows and puts the secret in a
message cookie). The secret of a new client is shown once on its own page, never stored in clear.
The tenant admin (console.admin.tenants.TenantAdmin) gains the signing keys here, so the
tenant admin knows nothing of SSO.
"""

from urllib.parse import urlsplit

from allauth.idp.oidc.models import Client, Token
from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext_lazy as _

from accounts.models import TenantGroup, User
from sso import access, backchannel, signing_keys
from sso.models import BackchannelLogout, TenantSigningKey
from sso.oidc import SCOPE_CHOICES, discovery_url_of, issuer_of, new_client_secret, save_client
from tenants.models import Tenant

from ..scoping import ReadOnlyScopedAdmin, TenantScopedAdmin, TenantScopedInline, admin_tenant
from .tenants import TenantAdmin

LOOPBACK_HOSTS = {"127.0.0.1", "::1", "localhost"}


def _lines(text):
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def validate_client_uri(uri):
    """https anywhere; plain http only on this machine (native and demo apps, RFC 8252)."""
    URLValidator(schemes=["http", "https"])(uri)
    parts = urlsplit(uri)
    if parts.fragment or "*" in uri:
        raise ValidationError(_("%(uri)s: no fragments or wildcards.") % {"uri": uri})
    if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
        raise ValidationError(_("%(uri)s: use https (http only for 127.0.0.1).") % {"uri": uri})


class ClientForm(forms.ModelForm):
    allowed_scopes = forms.MultipleChoiceField(
        label=_("Allowed scopes"), choices=[(s, s) for s in SCOPE_CHOICES],
        widget=forms.CheckboxSelectMultiple, initial=["openid", "profile", "email"],
        help_text=_("openid is needed for sign-in. groups: the user's group names (\"groups\" "
                    "claim) and this application's roles (\"roles\" claim)."),
    )
    assignment_required = forms.BooleanField(
        label=_("Only assigned users and groups"), required=False,
        help_text=_("Anyone else of the organisation is refused when signing in to the application."),
    )
    assigned_groups = forms.ModelMultipleChoiceField(
        TenantGroup.objects.none(), label=_("Assigned groups"), required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    assigned_users = forms.ModelMultipleChoiceField(
        User.objects.none(), label=_("Assigned users"), required=False,
        widget=forms.SelectMultiple(attrs={"size": 8}),
    )
    app_roles = forms.CharField(
        label=_("App roles"), required=False, widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("One per line: group name = role, e.g. “Sales = editor”. Members of the group "
                    "get the role in the \"roles\" claim (with the groups scope)."),
    )
    post_logout_uris = forms.CharField(
        label=_("Post-logout redirect URIs"), required=False, widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Where the application may send users after signing them out. One per line."),
    )
    backchannel_logout_uri = forms.CharField(
        label=_("Back-channel logout URI"), required=False,
        help_text=_("Where the portal tells the application that a user signed out or lost "
                    "access (OpenID Connect Back-Channel Logout). Leave empty if not supported."),
    )
    tenant = forms.ModelChoiceField(
        Tenant.objects.all(), label=_("Organisation"), required=False,
        help_text=_("Platform operators only: the organisation the application belongs to."),
    )

    class Meta:
        model = Client
        fields = ["name", "type", "redirect_uris", "skip_consent"]
        labels = {
            "name": _("Application name"),
            "type": _("Client type"),
            "redirect_uris": _("Redirect URIs"),
            "skip_consent": _("First-party application (no consent screen)"),
        }
        help_texts = {
            "type": _("Confidential: a server-side app that keeps a secret. Public: a browser or "
                      "mobile app (PKCE with S256 is required)."),
            "redirect_uris": _("Exact callback URLs, one per line."),
        }

    def __init__(self, *args, request=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.request = request
        editing = not self.instance._state.adding  # (a new Client already has its default id)
        if editing:
            self.initial["allowed_scopes"] = self.instance.get_scopes()
            self.initial["post_logout_uris"] = "\n".join(self.instance.get_post_logout_redirect_uris())
            self.initial["backchannel_logout_uri"] = backchannel.logout_uri(self.instance)
            self.fields["type"].disabled = True  # the secret's existence depends on it
        if editing or getattr(request, "tenant", None) is not None:
            del self.fields["tenant"]
        # Groups and users of the client's organisation only: on an org admin's host its own;
        # for a platform operator, the edited client's (a new client gets them once saved).
        tenant = self._client_tenant()
        if tenant is None:
            for name in ("assignment_required", "assigned_groups", "assigned_users", "app_roles"):
                del self.fields[name]
            return
        self.fields["assigned_groups"].queryset = TenantGroup.objects.filter(tenant=tenant)
        self.fields["assigned_users"].queryset = User.objects.filter(tenant=tenant).order_by("email")
        link = getattr(self.instance, "tenant_link", None) if editing else None
        if link is not None:
            self.initial["assignment_required"] = link.assignment_required
            self.initial["assigned_groups"] = list(link.assigned_groups.all())
            self.initial["assigned_users"] = list(link.assigned_users.all())
            self.initial["app_roles"] = access.role_lines_of(self.instance)

    def _client_tenant(self):
        if not self.instance._state.adding:
            link = getattr(self.instance, "tenant_link", None)
            return link.tenant if link is not None else None
        return admin_tenant(self.request) if self.request is not None else None

    def clean_app_roles(self):
        text = self.cleaned_data.get("app_roles") or ""
        try:
            pairs = access.parse_role_lines(text)
        except ValueError as bad:
            raise ValidationError(
                _("Write each line as “group name = role”: %(line)s") % {"line": bad.args[0]}
            ) from None
        groups = {g.name: g for g in self.fields["assigned_groups"].queryset}
        unknown = sorted({name for name, _role in pairs if name not in groups})
        if unknown:
            raise ValidationError(_("No group of the organisation is called: %(names)s")
                                  % {"names": ", ".join(unknown)})
        too_long = [role for _name, role in pairs if len(role) > 100]
        if too_long:
            raise ValidationError(_("A role has at most 100 characters: %(role)s") % {"role": too_long[0]})
        return [(groups[name], role) for name, role in pairs]

    def _clean_uris(self, text, required):
        uris = _lines(text)
        if required and not uris:
            raise ValidationError(_("Enter at least one redirect URI."))
        errors = []
        for uri in uris:
            try:
                validate_client_uri(uri)
            except ValidationError as exc:
                errors.extend(exc.messages)
        if errors:
            raise ValidationError(errors)
        return uris

    def clean_redirect_uris(self):
        return "\n".join(self._clean_uris(self.cleaned_data["redirect_uris"], required=True))

    def clean_post_logout_uris(self):
        return self._clean_uris(self.cleaned_data["post_logout_uris"], required=False)

    def clean_backchannel_logout_uri(self):
        uri = self.cleaned_data["backchannel_logout_uri"].strip()
        if uri:
            validate_client_uri(uri)
        return uri

    def clean_allowed_scopes(self):
        scopes = self.cleaned_data["allowed_scopes"]
        if "openid" not in scopes:
            raise ValidationError(_("openid is needed for sign-in."))
        return scopes

    def clean(self):
        cleaned = super().clean()
        if "tenant" in self.fields and not cleaned.get("tenant"):
            self.add_error("tenant", _("Choose the organisation."))
        return cleaned


class TenantClientAdmin(TenantScopedAdmin):
    tenant_field = "tenant_link__tenant"
    form = ClientForm
    list_display = ("name", "id", "type", "skip_consent", "created_at")
    search_fields = ("name", "id")
    readonly_fields = ("id", "created_at", "issuer", "discovery_url")
    actions = ["new_secret"]

    def get_fields(self, request, obj=None):
        fields = ["name", "type", "redirect_uris", "post_logout_uris", "backchannel_logout_uri",
                  "allowed_scopes", "skip_consent"]
        if obj is not None or getattr(request, "tenant", None) is not None:
            fields += ["assignment_required", "assigned_groups", "assigned_users", "app_roles"]
        if obj is not None:
            # What the application's settings need, to copy: the issuer and its discovery URL.
            return ["id", "issuer", "discovery_url", *fields]
        if getattr(request, "tenant", None) is None:
            fields.append("tenant")  # platform operators choose the organisation
        return fields

    def get_form(self, request, obj=None, change=False, **kwargs):
        form_class = super().get_form(request, obj, change=change, **kwargs)

        class RequestForm(form_class):
            def __init__(self, *args, **inner):
                super().__init__(*args, request=request, **inner)

        return RequestForm

    def save_model(self, request, obj, form, change):
        tenant = request.tenant if getattr(request, "tenant", None) is not None else form.cleaned_data.get("tenant")
        request._new_client_secret = save_client(
            obj, tenant=tenant, scopes=form.cleaned_data["allowed_scopes"],
            post_logout_redirect_uris=form.cleaned_data["post_logout_uris"],
        )
        backchannel.set_logout_uri(obj, form.cleaned_data["backchannel_logout_uri"])
        if "assigned_groups" in form.fields:
            access.save_assignment(
                obj, required=form.cleaned_data["assignment_required"],
                groups=form.cleaned_data["assigned_groups"],
                users=form.cleaned_data["assigned_users"], roles=form.cleaned_data["app_roles"],
            )

    @staticmethod
    def _tenant_of(client):
        link = getattr(client, "tenant_link", None)
        return link.tenant if link is not None else None

    @admin.display(description=_("Issuer"))
    def issuer(self, client):
        tenant = self._tenant_of(client)
        return issuer_of(tenant) if tenant else "-"

    @admin.display(description=_("Discovery URL"))
    def discovery_url(self, client):
        tenant = self._tenant_of(client)
        return discovery_url_of(tenant) if tenant else "-"

    def response_add(self, request, obj, post_url_continue=None):
        secret = getattr(request, "_new_client_secret", None)
        if secret:
            return self._show_secret(request, obj, secret)
        return super().response_add(request, obj, post_url_continue)

    def _show_secret(self, request, client, secret):
        tenant = self._tenant_of(client)
        context = {
            **self.admin_site.each_context(request), "client": client, "secret": secret,
            "issuer": issuer_of(tenant), "discovery_url": discovery_url_of(tenant),
            "opts": self.model._meta, "title": _("Client secret"),
        }
        response = TemplateResponse(request, "admin/sso/oidc_client_secret.html", context)
        response["Cache-Control"] = "no-store"
        return response

    @admin.action(description=_("Generate a new client secret"))
    def new_secret(self, request, queryset):
        clients = list(queryset.filter(type=Client.Type.CONFIDENTIAL)[:2])
        if len(clients) != 1:
            self.message_user(request, _("Select exactly one confidential client."), messages.ERROR)
            return None
        client = clients[0]
        secret = new_client_secret(client)
        client.save(update_fields=["secret"])
        return self._show_secret(request, client, secret)


class BackchannelLogoutAdmin(ReadOnlyScopedAdmin):
    """The logout tokens owed to applications, and why one failed (read only)."""

    list_display = ("created_at", "client", "reason", "state", "attempts", "next_attempt_at",
                    "sent_at", "last_error")
    list_filter = ("state", "reason")
    list_select_related = ("client",)


class SigningKeyInline(TenantScopedInline):
    """The tenant's SSO signing keys by key ID, for platform operators: never the private key."""

    model = TenantSigningKey
    fields = readonly_fields = ("kid", "created_at", "retire_at", "state")
    extra = 0
    can_delete = False

    def get_queryset(self, request):
        return super().get_queryset(request).published()

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description=_("state"))
    def state(self, key):
        if key.retire_at is None:
            return _("signs new ID tokens")
        return _("replaced: published until tokens it signed expire")


class TenantWithSigningKeysAdmin(TenantAdmin):
    inlines = [*TenantAdmin.inlines, SigningKeyInline]
    actions = [*TenantAdmin.actions, "rotate_signing_key"]

    @admin.action(description=_("Rotate the SSO signing key"), permissions=["change"])
    def rotate_signing_key(self, request, queryset):
        # Platform operators only (org admins cannot change their tenant here).
        for tenant in queryset:
            key = signing_keys.rotate_signing_key(tenant)
            until = timezone.localtime(key.created_at + signing_keys.retirement_delay())
            self.message_user(request, _(
                "%(tenant)s: new signing key %(kid)s. The previous key stays published until "
                "%(time)s, for the ID tokens it signed."
            ) % {"tenant": tenant, "kid": key.kid, "time": date_format(until, "SHORT_DATETIME_FORMAT")},
                messages.SUCCESS)


def register(site=admin.site):
    for model in (Client, Token):
        if site.is_registered(model):
            site.unregister(model)
    site.register(Client, TenantClientAdmin)
    site.register(BackchannelLogout, BackchannelLogoutAdmin)
    # console.admin.tenants registered TenantAdmin; the same admin with the signing keys replaces it.
    if site.is_registered(Tenant):
        site.unregister(Tenant)
    site.register(Tenant, TenantWithSigningKeysAdmin)
