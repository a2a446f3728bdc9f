from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from .models import Tenant, TenantBranding, TenantHost, TenantPolicy
from .resolution import clear_cache
from .scoping import tenant_scope


@receiver([post_save, post_delete], sender=Tenant)
@receiver([post_save, post_delete], sender=TenantHost)
@receiver([post_save, post_delete], sender=TenantPolicy)
@receiver([post_save, post_delete], sender=TenantBranding)
def forget_cached_hosts(**kwargs):
    clear_cache()


@receiver(post_save, sender=Tenant)
def give_new_tenant_a_policy(sender, instance, created, raw=False, **kwargs):
    if created and not raw:
        with tenant_scope(instance):
            TenantPolicy.objects.get_or_create(tenant=instance)
            TenantBranding.objects.get_or_create(tenant=instance)

