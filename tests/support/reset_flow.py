"""Helpers for tests that walk the password reset (not fixtures): start an attempt, read the
proof-of-work challenge a page carries and solve it with the `altcha` package's own solver, as a
browser's static/js/pow.js does."""

import html
import json
import re

import altcha
import pyotp

from recovery import services

RESET = "/accounts/password/reset/"
METHOD = RESET + "method/"
VERIFY = RESET + "verify/"
NEW_PASSWORD = RESET + "password/"
DONE = RESET + "done/"
NEW = "Fresh-meadow-horizon-71"
CHALLENGE_ATTR = re.compile(r'data-challenge="([^"]*)"')


def begin(client, email, method="authenticator"):
    """Steps 1 and 2 of the wizard; the verify page (its response)."""
    response = client.post(RESET, {"email": email})
    assert response.status_code == 302 and response["Location"] == METHOD, response.status_code
    response = client.post(METHOD, {"method": method})
    assert response.status_code == 302 and response["Location"] == VERIFY, response.status_code
    return client.get(VERIFY)


def register_app(user):
    device = services.start_authenticator_setup(user)
    services.confirm_authenticator(device)
    return pyotp.TOTP(services.authenticator_secret(device))


def wrong_code(totp):
    return f"{(int(totp.now()) + 500_000) % 1_000_000:06d}"


def challenge_on(page_text):
    """The proof-of-work challenge a page carries (dict), or None when it asks for none."""
    found = CHALLENGE_ATTR.search(page_text)
    return json.loads(html.unescape(found.group(1))) if found else None


def solve(challenge):
    """The value of the form's `altcha` field for a challenge, found by brute force with the
    altcha package's solver (what the browser's script computes)."""
    solution = altcha.solve_challenge_v1(
        challenge["challenge"], challenge["salt"], challenge["algorithm"], challenge["maxNumber"]
    )
    assert solution is not None
    return altcha.PayloadV1(
        challenge["algorithm"], challenge["challenge"], solution.number, challenge["salt"],
        challenge["signature"],
    ).to_base64()
