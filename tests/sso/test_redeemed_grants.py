"""The record of redeemed codes and refresh tokens (sso.RedeemedGrant) does not grow forever."""

from datetime import timedelta

from django.utils import timezone

from sso.models import RedeemedGrant
from sso.tasks import purge_redeemed_grants
from tests.support.clients import client_for
from tests.support.oidc import make_client, tokens_for


def test_the_daily_purge_forgets_only_grants_past_their_keeping_time(no_nudge, user):
    client, secret = make_client(user.tenant)
    tokens_for(client_for(user.tenant), user, client, secret)
    tokens_for(client_for(user.tenant), user, client, secret)
    assert RedeemedGrant.objects.count() == 2  # one row per redeemed code
    kept, dropped = RedeemedGrant.objects.order_by("redeemed_at")
    RedeemedGrant.objects.filter(pk=dropped.pk).update(keep_until=timezone.now() - timedelta(seconds=1))

    assert purge_redeemed_grants() == 1
    assert list(RedeemedGrant.objects.values_list("pk", flat=True)) == [kept.pk]
