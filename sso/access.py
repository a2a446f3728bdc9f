"""Who may use which application, and the groups and app roles it is told about.

- A client may be limited to assigned users and groups (TenantOIDCClient.assignment_required):
  anyone else is refused at the authorization endpoint (a page that says so, and the OAuth error
  access_denied for the application), at the token endpoint (the refresh token of a user no
  longer assigned), and at userinfo.
- Groups and assignments count only within the client's tenant: a membership or assignment that
  crosses tenants (never made by the admin, which offers only the tenant's own) grants nothing
  and names nothing.
- The "groups" claim lists the user's group names; the "roles" claim the client's app roles of
  those groups. Both only when the client was granted the "groups" scope.
"""

from allauth.idp.oidc.models import Token

import audit
from accounts.models import group_names_of

from .models import ClientAppRole, TenantOIDCClient

GROUPS_SCOPE = "groups"


def _link(client):
    try:
        return client.tenant_link
    except TenantOIDCClient.DoesNotExist:
        return None


def user_may_use(user, client) -> bool:
    """Whether `user` may sign in to `client`: not limited, or assigned directly or by group."""
    link = _link(client)
    if link is None or user is None or user.tenant_id != link.tenant_id:
        return False
    if not link.assignment_required:
        return True
    if link.assigned_users.filter(pk=user.pk, tenant_id=link.tenant_id).exists():
        return True
    return link.assigned_groups.filter(tenant_id=link.tenant_id, members=user).exists()


def group_claims(user, client, scopes) -> dict:
    """{"groups": [...], "roles": [...]} when the "groups" scope was granted, else {}."""
    if GROUPS_SCOPE not in scopes:
        return {}
    link = _link(client)
    if link is None or user.tenant_id != link.tenant_id:
        return {}
    roles = ClientAppRole.objects.filter(
        client_link=link, group__tenant_id=link.tenant_id, group__members=user,
    ).values_list("role", flat=True).distinct()
    return {"groups": group_names_of(user), "roles": sorted(set(roles))}


def record_refusal(request, user, client, *, at):
    """The audit trail's record of an application refused to an unassigned user."""
    audit.record(
        "sso.access_denied", request=request, user=user,
        client_id=client.id, application=client.name, at=at,
    )


def refresh_user_refused(client, refresh_token):
    """The user of `client`'s refresh token when they may no longer use the client, else None.

    Another client's token is left to allauth, which refuses it as it is. (A code is checked
    when issued and lives AUTHORIZATION_CODE_EXPIRES_IN seconds; the refresh token it yields is
    checked here at its first use, and userinfo refuses its access token meanwhile.)
    """
    if client is None or not isinstance(refresh_token, str) or not refresh_token:
        return None
    token = Token.objects.lookup(Token.Type.REFRESH_TOKEN, refresh_token)
    if token is None or token.client_id != client.pk or token.user is None:
        return None
    return None if user_may_use(token.user, client) else token.user


# --- admin -------------------------------------------------------------------------------------

def parse_role_lines(text):
    """[(group name, role)] from lines "group name = role"; raises ValueError(line) on a bad one."""
    pairs = []
    for line in (text or "").splitlines():
        line = line.strip()
        if not line:
            continue
        group, sep, role = line.partition("=")
        group, role = group.strip(), role.strip()
        if not sep or not group or not role:
            raise ValueError(line)
        pairs.append((group, role))
    return pairs


def role_lines_of(client):
    link = _link(client)
    if link is None:
        return ""
    rows = link.app_roles.select_related("group").order_by("group__name", "role")
    return "\n".join(f"{row.group.name} = {row.role}" for row in rows)


def save_assignment(client, *, required, groups, users, roles):
    """Store the client's assignment and app roles (roles: [(TenantGroup, role)]).

    Groups and users of another tenant than the client's are dropped, whoever asks.
    """
    link = client.tenant_link
    link.assignment_required = bool(required)
    link.save(update_fields=["assignment_required"])
    link.assigned_groups.set([g for g in groups if g.tenant_id == link.tenant_id])
    link.assigned_users.set([u for u in users if u.tenant_id == link.tenant_id])
    link.app_roles.all().delete()
    ClientAppRole.objects.bulk_create([
        ClientAppRole(client_link=link, group=group, role=role)
        for group, role in dict.fromkeys(roles) if group.tenant_id == link.tenant_id
    ])
