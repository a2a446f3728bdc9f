from django.db.models.signals import post_save
from django.dispatch import receiver

from tenants.models import Tenant

from .signing_keys import create_signing_key


@receiver(post_save, sender=Tenant)
def give_new_tenant_a_signing_key(sender, instance, created, raw=False, **kwargs):
    # Here rather than in create_tenant: a tenant added in the admin needs its key as well.
    if created and not raw:
        create_signing_key(instance)
