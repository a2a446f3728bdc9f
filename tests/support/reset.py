"""The password reset wizard as a user walks it (docs/product.md flow E): its URLs, its pages
as a user reads them and the steps, for the tests of the reset and of whatever builds on it."""

from html.parser import HTMLParser

import pyotp

from recovery import services

RESET = "/accounts/password/reset/"
METHOD = RESET + "method/"
VERIFY = RESET + "verify/"
NEW_PASSWORD = RESET + "password/"
DONE = RESET + "done/"
NEW = "Fresh-meadow-horizon-71"
ANSWERS = ["Tokyo", "Mochi  Cat", "Blue Whale", "Sakura", "Ramen"]


# --- Pages as a user sees them ----------------------------------------------------------------

class Page(HTMLParser):
    """Form field names, labels and visible text of a response."""

    def __init__(self, response):
        super().__init__()
        self.fields, self.labels, self._text = [], {}, []
        self._hidden_depth, self._label_for = 0, None
        self.feed(response.content.decode())

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in ("script", "style", "title"):
            self._hidden_depth += 1
        if tag in ("input", "select", "textarea", "button") and attrs.get("name"):
            self.fields.append(attrs["name"])
        if tag == "label":
            self._label_for = attrs.get("for")
            self.labels[self._label_for] = ""

    def handle_endtag(self, tag):
        if tag in ("script", "style", "title"):
            self._hidden_depth -= 1
        if tag == "label":
            self._label_for = None

    def handle_data(self, data):
        if self._hidden_depth or not data.strip():
            return
        self._text.append(" ".join(data.split()))
        if self._label_for:
            self.labels[self._label_for] += data.strip()

    @property
    def text(self):
        return " ".join(self._text)

    @property
    def questions(self):
        return [text for key, text in self.labels.items() if key and key.startswith("id_answer_")]

    def text_without_questions(self):
        text = self.text
        for question in self.questions:
            text = text.replace(question, "<question>")
        return text


def register_questions(user, questions):
    """Returns {question text (ja and en): answer}."""
    services.register_security_questions(user, dict(zip(questions, ANSWERS, strict=False)))
    return {
        text: answer
        for q, answer in zip(questions, ANSWERS, strict=False)
        for text in (q.text_ja, q.text_en)
    }


def register_app(user):
    device = services.start_authenticator_setup(user)
    services.confirm_authenticator(device)
    return pyotp.TOTP(services.authenticator_secret(device))


def begin(client, email, methods=("questions",)):
    """Steps 1 and 2; returns the verify page."""
    response = client.post(RESET, {"email": email})
    assert response.status_code == 302 and response["Location"] == METHOD
    data = {"method": methods[0]} if len(methods) == 1 else {}
    response = client.post(METHOD, data)
    assert response.status_code == 302 and response["Location"] == VERIFY
    return client.get(VERIFY)


def answer(client, page, answers_by_question, transform=lambda a: a):
    data = {}
    for key, question in page.labels.items():
        if key and key.startswith("id_answer_"):
            data[key.removeprefix("id_")] = transform(answers_by_question[question])
    return client.post(VERIFY, data)


def set_password(client, password=NEW):
    return client.post(NEW_PASSWORD, {"new_password1": password, "new_password2": password})
