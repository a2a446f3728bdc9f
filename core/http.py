"""URL helpers for views: where a ?next= may send the browser, and query strings edited."""

from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme


def safe_next_url(request, default="home"):
    """The ?next= (or posted next) when it stays on this host; otherwise the default page."""
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return reverse(default)


def _with_query(url, edit):
    parts = urlsplit(url)
    query = parse_qs(parts.query, keep_blank_values=True)
    edit(query)
    return urlunsplit(parts._replace(query=urlencode(query, doseq=True)))


def add_query_params(url, params):
    """`url` with each of `params` set (replacing any value it had)."""
    return _with_query(url, lambda query: query.update(params))


def del_query_params(url, *names):
    """`url` without the named parameters; the others, blank ones too, stay as they were."""
    def drop(query):
        for name in names:
            query.pop(name, None)

    return _with_query(url, drop)
