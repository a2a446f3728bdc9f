"""max_age on a session that has no record of when its user authenticated."""

from tests.support.clients import client_for
from tests.support.oidc import authorize_url, make_client


def test_max_age_asks_a_session_without_an_authentication_record_to_sign_in_again(no_nudge, user):
    # A session that allauth never recorded a sign-in for (one from before the records were
    # read, or made without allauth's sign-in): its age is unknown, so it is not young enough.
    client, _secret = make_client(user.tenant)
    browser = client_for(user.tenant)
    browser.force_login(user)
    response = browser.get(authorize_url(client.id, max_age="3600"))
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/reauthenticate/"), response["Location"]
