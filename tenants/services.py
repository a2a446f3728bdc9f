from django.db import transaction

from .models import Tenant, TenantHost


@transaction.atomic
def create_tenant(*, slug, name, hosts):
    """A tenant with its host names and the default policy (made by a post_save signal)."""
    tenant = Tenant.objects.create(slug=slug, name=name)
    for index, host in enumerate(hosts):
        TenantHost.objects.create(tenant=tenant, host=host, is_primary=index == 0)
    return tenant
