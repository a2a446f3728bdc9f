from django.db import transaction

from .models import Tenant, TenantHost


@transaction.atomic
def create_tenant(*, slug, name, hosts):
    """A tenant with its host names, the default policy and its own SSO signing key (made by
    post_save signals, see tenants.signals and sso.signals)."""
    tenant = Tenant.objects.create(slug=slug, name=name)
    for index, host in enumerate(hosts):
        TenantHost.objects.create(tenant=tenant, host=host, is_primary=index == 0)
    return tenant
