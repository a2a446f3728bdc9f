"""My account: the signed-in user's home page, built of panels.

accounts draws the panels it owns (recent activity, where you are signed in, language). The apps
above it (recovery: the security info summary; sso: connected apps) register theirs in their
AppConfig.ready, so accounts never imports them (README, Layout): the way outbox.kinds works.
"""

from collections.abc import Callable
from dataclasses import dataclass

from allauth.usersessions.models import UserSession
from django.conf import settings
from django.utils.translation import gettext_lazy as _

import audit
from audit.models import AuditEvent

from . import app_settings


@dataclass(frozen=True)
class Panel:
    key: str
    order: int
    template: str
    context: Callable  # request -> dict, or None to leave the panel out


_panels: dict[str, Panel] = {}


def register_panel(key, *, order, template, context):
    _panels[key] = Panel(key, order, template, context)


def panels_for(request):
    """The panels of the request's user, in order: each a dict with its template and context."""
    shown = []
    for panel in sorted(_panels.values(), key=lambda p: p.order):
        context = panel.context(request)
        if context is not None:
            shown.append({"key": panel.key, "template": panel.template, **context})
    return shown


# --- accounts' own panels -------------------------------------------------------------------

BROWSERS = (("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"), ("Chrome/", "Chrome"),
            ("Safari/", "Safari"))
SYSTEMS = (("iPhone", "iOS"), ("iPad", "iPadOS"), ("Android", "Android"), ("Windows", "Windows"),
           ("Mac OS X", "macOS"), ("CrOS", "ChromeOS"), ("Linux", "Linux"))


def describe_user_agent(user_agent: str) -> str:
    """"Chrome on Windows": enough for a person to recognise their own device."""
    browser = next((name for token, name in BROWSERS if token in user_agent), None)
    system = next((name for token, name in SYSTEMS if token in user_agent), None)
    if browser and system:
        return _("%(browser)s on %(system)s") % {"browser": browser, "system": system}
    return browser or system or str(_("Unknown browser"))


def recent_activity(request):
    events = AuditEvent.objects.filter(user=request.user).order_by("-created_at", "-id")[
        : app_settings.HOME_RECENT_EVENTS
    ]
    return {"events": [
        {"time": event.created_at, "label": audit.KINDS.get(event.kind, event.kind),
         "address": event.ip_address, "browser": describe_user_agent(event.user_agent)}
        for event in events
    ]}


def signed_in_sessions(request):
    current = request.session.session_key
    sessions = UserSession.objects.filter(user=request.user).order_by("-created_at")
    rows = [
        {"id": s.pk, "since": s.created_at, "address": s.ip, "browser": describe_user_agent(s.user_agent),
         "current": s.session_key == current}
        for s in sessions
    ]
    rows.sort(key=lambda row: not row["current"])  # this session first
    return {"sessions": rows, "others": sum(not row["current"] for row in rows)}


def language_choice(request):
    return {"languages": settings.LANGUAGES, "current": request.user.language}


register_panel("sessions", order=30, template="accounts/home/sessions.html", context=signed_in_sessions)
register_panel("activity", order=40, template="accounts/home/activity.html", context=recent_activity)
register_panel("language", order=50, template="accounts/home/language.html", context=language_choice)
