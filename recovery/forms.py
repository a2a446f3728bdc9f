from django import forms
from django.utils.translation import gettext_lazy as _

from . import policy, services


class MethodChoiceForm(forms.Form):
    method = forms.ChoiceField(
        label=_("Choose a method"),
        error_messages={
            "required": _("Choose a method."),
            "invalid_choice": _("Choose one of the methods in the list."),
        },
    )

    def __init__(self, *args, methods, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["method"].choices = [("", _("Choose a method"))] + [
            (method, services.METHOD_LABELS[method]) for method in methods
        ]


class AnswerInput(forms.TextInput):
    """Answers are never sent back to the browser, not even after an error."""

    def format_value(self, value):
        return None


class SecurityQuestionsForm(forms.Form):
    """N distinct questions from the tenant's list, one answer each (rules in policy)."""

    def __init__(self, *args, questions, count, **kwargs):
        super().__init__(*args, **kwargs)
        # The offered questions are read once and shared by every select.
        self.questions = {question.pk: question for question in questions}
        choices = [("", _("Choose a question"))] + [(q.pk, q.text) for q in questions]
        self.count = count
        for number in range(1, count + 1):
            self.fields[f"question_{number}"] = forms.TypedChoiceField(
                label=_("Question %(number)d") % {"number": number},
                choices=choices, coerce=int,
                error_messages={
                    "required": _("Choose a question."),
                    "invalid_choice": _("Choose a question from the list."),
                },
            )
            self.fields[f"answer_{number}"] = forms.CharField(
                label=_("Answer %(number)d") % {"number": number},
                required=False, strip=False, max_length=200,
                widget=AnswerInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
                error_messages={
                    "max_length": _("An answer can have at most %(max)d characters.")
                    % {"max": policy.ANSWER_MAX_LENGTH},
                },
            )

    def numbered_pairs(self):
        """(number, question field, answer field): the page groups each pair in a fieldset."""
        for number in range(1, self.count + 1):
            yield number, self[f"question_{number}"], self[f"answer_{number}"]

    def pairs(self):
        for number in range(1, self.count + 1):
            yield self.cleaned_data.get(f"question_{number}"), self.cleaned_data.get(f"answer_{number}")

    def clean(self):
        cleaned = super().clean()
        rule_errors = policy.question_answer_errors(list(self.pairs()))
        for (index, kind), message in rule_errors.items():
            name = f"{kind}_{index + 1}"
            if name not in self.errors:
                self.add_error(name, message)
        return cleaned

    def answers(self):
        """{SecurityQuestion: answer} of a valid form."""
        return {self.questions[question_id]: answer for question_id, answer in self.pairs()}
