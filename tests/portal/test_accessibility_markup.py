"""Markup a screen reader relies on: live regions, fieldset legends, fields tied to their errors."""

import pytest

from recovery.models import SecurityQuestion
from tests.support.clients import client_for, sign_in
from tests.support.html import described_by, parse

NUDGE = "/security-info/keep-your-account-secure/"
QUESTIONS = "/security-info/questions/"


def signed_in(tenant, user, language="en"):
    """In the registration prompt right after the password (no recovery method yet)."""
    client = client_for(tenant, HTTP_ACCEPT_LANGUAGE=language)
    assert sign_in(client, user.email)["Location"] == NUDGE
    return client


def form_controls(page):
    for tag in ("input", "select", "textarea"):
        for control in page.find_all(tag):
            if control.get("type") not in ("hidden", "submit"):
                yield control


def assert_every_description_exists(page):
    for control in form_controls(page):
        for ref, element in zip(control.get("aria-describedby", "").split(),
                                described_by(page, control), strict=True):
            assert element is not None, f"{control} points at #{ref}, which is not on the page"


def assert_errors_are_tied_to_their_fields(page):
    """Every error list is one field's: the field is aria-invalid and names the list."""
    lists = list(page.find_all("ul", class_="errorlist"))
    assert lists, "the page shows no field error"
    for error_list in lists:
        list_id = error_list.get("id")
        assert list_id and list_id.endswith("_error"), error_list
        field = page.by_id(list_id.removesuffix("_error"))
        assert field is not None, f"no field for {list_id}"
        assert field.get("aria-invalid") == "true"
        assert list_id in field.get("aria-describedby", "").split()


def live_messages(page):
    container = page.find(class_="messages")
    assert container is not None, "no messages on the page"
    return [(element.get("role"), element.text()) for element in container.iter()
            if "message" in element.get("class", "").split()]


@pytest.mark.django_db
def test_a_success_message_is_a_status(no_nudge, user):
    client = client_for(no_nudge, HTTP_ACCEPT_LANGUAGE="en")
    page = parse(client.post("/accounts/login/", {"login": user.email, "password": "Correct-horse-42"},
                             follow=True).content)
    [(role, text)] = live_messages(page)
    assert role == "status" and user.email in text


@pytest.mark.django_db
def test_an_error_message_is_an_alert(tenant, user):
    client = signed_in(tenant, user)
    # No authenticator setup in progress: the scan page sends the user back with an error.
    page = parse(client.get("/security-info/authenticator/scan/", follow=True).content)
    [(role, text)] = live_messages(page)
    assert role == "alert" and "Your setup expired" in text


@pytest.mark.django_db
@pytest.mark.parametrize("language", ["en", "ja"])
def test_each_question_and_its_answer_is_a_fieldset_with_a_legend(tenant, user, language):
    page = parse(signed_in(tenant, user, language).get(QUESTIONS).content)
    fieldsets = list(page.find_all("fieldset"))
    assert len(fieldsets) == tenant.policy.questions_to_register
    legends = []
    for number, fieldset in enumerate(fieldsets, start=1):
        legend = fieldset.children and next(fieldset.find_all("legend"), None)
        assert legend is not None and legend.parent is fieldset, f"fieldset {number} has no legend"
        legends.append(legend.text())
        assert fieldset.find("select", name=f"question_{number}") is not None
        assert fieldset.find("input", name=f"answer_{number}") is not None
    assert len(set(legends)) == len(legends) and all(str(n) in t for n, t in enumerate(legends, 1))


@pytest.mark.django_db
def test_question_errors_are_where_the_fields_point(tenant, user):
    bank = list(SecurityQuestion.objects.filter(tenant=None).order_by("position")[:3])
    data = {}
    for number, (question, answer) in enumerate(zip(bank, ["ab", "Mochi", "Mochi"], strict=True), 1):
        data[f"question_{number}"] = question.pk
        data[f"answer_{number}"] = answer
    page = parse(signed_in(tenant, user).post(QUESTIONS, data).content)

    assert_errors_are_tied_to_their_fields(page)
    assert_every_description_exists(page)
    assert page.by_id("id_answer_1_error") is not None
    assert page.by_id("id_answer_3_error") is not None  # the same answer twice


@pytest.mark.django_db
def test_the_sign_in_page_shows_the_password_fields_error(no_nudge, user):
    client = client_for(no_nudge, HTTP_ACCEPT_LANGUAGE="en")
    page = parse(client.post("/accounts/login/", {"login": user.email, "password": ""}).content)

    password = page.by_id("id_password")
    assert password.get("aria-invalid") == "true"
    [error] = described_by(page, password)
    assert error is not None and "This field is required" in error.text()
    assert_errors_are_tied_to_their_fields(page)
    assert_every_description_exists(page)


@pytest.mark.django_db
def test_the_sign_in_page_ties_the_login_fields_error_to_it(no_nudge, user):
    client = client_for(no_nudge, HTTP_ACCEPT_LANGUAGE="en")
    page = parse(client.post("/accounts/login/", {"login": "", "password": "x"}).content)

    assert_errors_are_tied_to_their_fields(page)
    assert_every_description_exists(page)
    assert page.by_id("id_password").get("aria-invalid") is None
