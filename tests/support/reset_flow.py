"""Helpers for tests that walk the password reset (not fixtures): start an attempt, read the
proof-of-work challenge a page carries and solve it with the `altcha` package's own solver, as a
browser's static/js/pow.js does."""

import html
import json
import re

import altcha

from .reset import DONE, METHOD, NEW, NEW_PASSWORD, RESET, VERIFY, register_app  # noqa: F401

CHALLENGE_ATTR = re.compile(r'data-challenge="([^"]*)"')


def begin(client, email, method="authenticator"):
    """Steps 1 and 2 of the wizard with one method (the authenticator unless told); the verify
    page (its response)."""
    response = client.post(RESET, {"email": email})
    assert response.status_code == 302 and response["Location"] == METHOD, response.status_code
    response = client.post(METHOD, {"method": method})
    assert response.status_code == 302 and response["Location"] == VERIFY, response.status_code
    return client.get(VERIFY)


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
