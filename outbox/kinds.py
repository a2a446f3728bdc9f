"""The kinds of e-mail the outbox sends, and what each needs from the app that owns it.

The outbox queues, renders and delivers; it does not know what an e-mail is about. The app that
owns a kind registers it here from its AppConfig.ready(): the path the e-mail's link opens
(made when the e-mail is sent, so a token in it is never stored in the row) and, where it
differs from "the recipient is an active user", when the e-mail is no longer wanted. The texts
are templates/emails/<kind>/subject.txt, body.txt and body.html.
"""

from collections.abc import Callable
from dataclasses import dataclass

REMINDER = "reminder"
PASSWORD_CHANGED = "password_changed"
INVITE = "invite"
NEVER_SIGNED_IN = "never_signed_in"
ADMIN_DIGEST = "admin_digest"


def recipient_active(row) -> bool:
    return row.user is not None and row.user.is_active


@dataclass(frozen=True)
class MailKind:
    link_path: Callable  # (row) -> the path on the recipient's site
    still_wanted: Callable = recipient_active  # (row) -> False cancels the e-mail unsent


_kinds: dict[str, MailKind] = {}


def register(kind, *, link_path, still_wanted=recipient_active):
    # ready() may run more than once (Django's docs): registering again replaces.
    _kinds[kind] = MailKind(link_path, still_wanted)


def registered(kind) -> MailKind:
    try:
        return _kinds[kind]
    except KeyError:
        raise LookupError(f"no installed app registered the e-mail kind {kind!r}") from None
