"""Placeholder so the admin's "unlock reset" action has its entry point.

The reset helper owns this module: at merge the lead takes that version of unlock_reset().
"""


class ResetUnavailable(Exception):
    """The shared counter store (cache) cannot be read or written: fail closed."""


def unlock_reset(user, *, actor=None, request=None):
    """Lift the user's reset lock (placeholder: there is no lock to lift yet)."""
