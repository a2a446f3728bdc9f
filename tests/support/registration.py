"""Registering security questions and the authenticator app (flows B-D), as a user in the
sign-in nudge does it: the URLs, the steps and what the pages show."""

import base64
import html
import re

from recovery.models import SecurityQuestion

from .clients import client_for, sign_in
from .nudge import NUDGE

QUESTIONS = "/security-info/questions/"
AUTHENTICATOR = "/security-info/authenticator/"
SCAN = AUTHENTICATOR + "scan/"
CODE = AUTHENTICATOR + "code/"
FINISH = "/security-info/finish/"


def in_nudge(tenant, user, next_url=None, **client_defaults):
    client = client_for(tenant, **client_defaults)
    assert sign_in(client, user.email, next_url=next_url)["Location"] == NUDGE
    client.get(NUDGE)
    return client


def field_errors(page, name):
    """The error list rendered next to one field (includes/field.html), as text."""
    match = re.search(rf'<ul class="errorlist" id="id_{name}_error">(.*?)</ul>', page.text, re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", match.group(1))).strip() if match else ""


def bank(count=5):
    return list(SecurityQuestion.objects.filter(tenant=None).order_by("position")[:count])


def question_data(questions, answers):
    data = {}
    for number, (question, answer) in enumerate(zip(questions, answers, strict=True), start=1):
        data[f"question_{number}"] = question if isinstance(question, (int, str)) else question.pk
        data[f"answer_{number}"] = answer
    return data


def scan_page(client):
    """Start a setup and read what the page shows: (page, secret, account name, QR PNG bytes)."""
    assert client.post(AUTHENTICATOR)["Location"] == SCAN
    page = client.get(SCAN)
    secret = re.search(r'id="secret-key" class="secret" data-copy-value="([A-Z2-7]+)">([A-Z2-7 ]+)<', page.text)
    assert secret, page.text
    assert secret.group(2).replace(" ", "") == secret.group(1)
    assert all(len(group) == 4 for group in secret.group(2).split(" ")[:-1])  # grouped by 4
    account = re.search(r'id="account-name" class="secret">([^<]+)<', page.text).group(1)
    png = base64.b64decode(re.search(r'src="data:image/png;base64,([^"]+)"', page.text).group(1))
    return page, secret.group(1), account, png
