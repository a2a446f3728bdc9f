"""Test clients on a tenant's host, and the sign-in form as a user fills it in."""

from django.test import Client

PASSWORD = "Correct-horse-42"


def client_for(tenant_or_host, **defaults):
    """A test client whose requests go to a tenant's host (or any host name)."""
    host = tenant_or_host if isinstance(tenant_or_host, str) else f"{tenant_or_host.slug}.localhost"
    return Client(HTTP_HOST=host, **defaults)


def sign_in(client, email, password=PASSWORD, next_url=None):
    data = {"login": email, "password": password}
    url = "/accounts/login/" + (f"?next={next_url}" if next_url else "")
    return client.post(url, data)
