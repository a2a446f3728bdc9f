from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from sso.signing_keys import retirement_delay, rotate_signing_key
from tenants.models import Tenant


class Command(BaseCommand):
    help = (
        "Give organisations a new SSO (OpenID Connect) signing key. The new key is published and "
        "signs at once; the keys it replaces stay published for the ID-token lifetime, so tokens "
        "they signed still verify, and are deleted at the next rotation after that."
    )

    def add_arguments(self, parser):
        parser.add_argument("slugs", nargs="+", metavar="slug", help="The organisations' slugs.")

    def handle(self, *args, slugs, **options):
        tenants = {tenant.slug: tenant for tenant in Tenant.objects.filter(slug__in=slugs)}
        unknown = [slug for slug in slugs if slug not in tenants]
        if unknown:
            raise CommandError(f"No organisation with the slug: {', '.join(unknown)}. Nothing rotated.")
        for slug in slugs:
            key = rotate_signing_key(tenants[slug])
            until = timezone.localtime(key.created_at + retirement_delay())
            # The key ID only: the private key never goes to output or logs.
            self.stdout.write(
                f"{slug}: new signing key {key.kid}; the previous key stays published until "
                f"{until:%Y-%m-%d %H:%M:%S %Z}."
            )
