"""The invitation page states the password rules its validators apply, the tenant's minimum too."""

import pytest

from accounts.invites import invite_path
from accounts.services import provision_user
from tests.support.clients import client_for
from tests.support.html import described_by, parse


def invitation_form(tenant, language):
    newcomer = provision_user(tenant=tenant, email="new@demo.example", language=language)
    client = client_for(tenant, HTTP_ACCEPT_LANGUAGE=language)
    landing = client.get(invite_path(newcomer))
    return client, landing["Location"]


def rules_told(page):
    """The text the new-password field points at (aria-describedby), as a screen reader reads it."""
    field = page.find("input", name="new_password1")
    told = [element.text() for element in described_by(page, field) if element is not None]
    return " ".join(told)


@pytest.mark.django_db
def test_the_invitation_page_states_the_tenants_minimum_length(make_tenant):
    tenant = make_tenant("strict", min_password_length=12)
    client, form_url = invitation_form(tenant, "en")

    told = rules_told(parse(client.get(form_url).content))

    assert "at least 12 characters" in told
    assert "at least 8" not in told
    assert "can't contain the name of your organisation" in told
    # What the page says is what the form enforces.
    refused = client.post(form_url, {"new_password1": "Tulip-Walk4", "new_password2": "Tulip-Walk4"})
    assert refused.status_code == 200 and "at least 12 characters" in refused.text
    refused = client.post(form_url, {"new_password1": "Tulip-Walk-4", "new_password2": "Tulip-Walk-4"})
    assert refused.status_code == 302


@pytest.mark.django_db
def test_the_invitation_page_states_the_rules_in_japanese(make_tenant):
    tenant = make_tenant("strict", min_password_length=12)
    client, form_url = invitation_form(tenant, "ja")

    told = rules_told(parse(client.get(form_url).content))

    assert "パスワードは 12 文字以上にしてください。" in told
    assert "8 文字" not in told
