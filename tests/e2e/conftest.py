"""Browser tests: Playwright from PyPI driving Debian's chromium (never a downloaded browser).

The server under test is pytest-django's live server (the real Django stack on the test
database). Tenants are reached by name: chromium resolves *.localhost to this machine.
"""

import importlib
import os
import re
import shutil
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-quic", "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
DESKTOP = {"viewport": {"width": 1280, "height": 900}}
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "is_mobile": True,
    "has_touch": True,
    "device_scale_factor": 2,
    "user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1",
}

# Playwright's sync API runs an event loop in this thread; the ORM calls made by the test
# itself (fixtures, assertions) are still plain synchronous code.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.fail("Debian's chromium is not installed (make test installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def question_bank(transactional_db):
    """The built-in questions, put back by their own migration: a transactional test's flush
    empties every table, and serialized_rollback is not restored reliably once another test
    has set the database up."""
    from django.apps import apps

    from recovery.models import SecurityQuestion

    if not SecurityQuestion.objects.filter(tenant=None).exists():
        importlib.import_module("recovery.migrations.0002_question_bank").add_bank(apps, None)


class Shots:
    """Screenshots of a scenario's key pages, in artifacts/<test name>/NN-<label>.png."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.count = 0
        shutil.rmtree(folder, ignore_errors=True)  # only this run's pictures, no stale failure/
        folder.mkdir(parents=True, exist_ok=True)

    def __call__(self, page, label):
        self.count += 1
        name = f"{self.count:02d}-{re.sub(r'[^a-z0-9]+', '-', label.lower())}.png"
        page.screenshot(path=str(self.folder / name), full_page=True)
        return self.folder / name


@pytest.fixture
def shots(request):
    return Shots(ARTIFACTS / request.node.name)


@pytest.fixture
def open_page(browser, request, live_server, settings):
    """open_page(host_prefix, device=DESKTOP, locale="ja") -> (page, base_url)."""
    contexts = []
    port = live_server.url.rsplit(":", 1)[1]
    settings.PORTAL_PUBLIC_PORT = port  # the live server's port is the public one

    def open_(tenant, device=DESKTOP, locale="ja"):
        context = browser.new_context(locale=locale, **device)
        context.set_default_timeout(10_000)  # a local server answers at once: fail fast
        contexts.append(context)
        page = context.new_page()
        return page, f"http://{tenant.slug}.localhost:{port}"

    yield open_
    failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
    for context in contexts:
        if failed:
            folder = ARTIFACTS / request.node.name / "failure"
            folder.mkdir(parents=True, exist_ok=True)
            for index, page in enumerate(context.pages):
                page.screenshot(path=str(folder / f"page-{index}.png"), full_page=True)
                (folder / f"page-{index}.html").write_text(page.content())
        context.close()


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


def assert_accessible_basics(page):
    """Every page: a <title>, one <h1>, labelled fields, no horizontal scroll at its width."""
    assert page.title().strip(), "page has no <title>"
    assert page.locator("h1").count() == 1, "page must have exactly one <h1>"
    unlabelled = page.evaluate(
        """() => Array.from(document.querySelectorAll(
              'input:not([type=hidden]):not([type=submit]), select, textarea'))
            .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                          && !el.getAttribute('aria-labelledby'))
            .map(el => el.name || el.id)"""
    )
    assert not unlabelled, f"fields without a label: {unlabelled}"
    overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"horizontal scroll of {overflow}px"
