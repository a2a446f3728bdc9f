from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from .models import Tenant, TenantHost, TenantPolicy
from .resolution import clear_cache
from .signing_keys import create_signing_key


@receiver([post_save, post_delete], sender=Tenant)
@receiver([post_save, post_delete], sender=TenantHost)
@receiver([post_save, post_delete], sender=TenantPolicy)
def forget_cached_hosts(**kwargs):
    clear_cache()


@receiver(post_save, sender=Tenant)
def give_new_tenant_a_policy(sender, instance, created, raw=False, **kwargs):
    if created and not raw:
        TenantPolicy.objects.get_or_create(tenant=instance)


@receiver(post_save, sender=Tenant)
def give_new_tenant_a_signing_key(sender, instance, created, raw=False, **kwargs):
    # Here rather than in create_tenant: a tenant added in the admin needs its key as well.
    if created and not raw:
        create_signing_key(instance)
