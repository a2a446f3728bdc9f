"""Every text of the portal has its Japanese: the catalogue has no untranslated or fuzzy entry."""

import re
from pathlib import Path

import polib

CATALOGUE = Path(__file__).resolve().parents[2] / "locale/ja/LC_MESSAGES/django.po"


def test_japanese_catalogue_is_complete():
    po = polib.pofile(str(CATALOGUE))
    assert len(po) > 300
    untranslated = [e.msgid for e in po.untranslated_entries() if not e.obsolete]
    fuzzy = [e.msgid for e in po.fuzzy_entries()]
    assert not untranslated, f"untranslated: {untranslated[:10]}"
    assert not fuzzy, f"fuzzy (unchecked guesses): {fuzzy[:10]}"


def test_placeholders_survive_translation():
    po = polib.pofile(str(CATALOGUE))
    pattern = re.compile(r"%\(\w+\)[sd]|\{\w+\}")
    broken = [
        e.msgid for e in po.translated_entries()
        if sorted(pattern.findall(e.msgid)) != sorted(pattern.findall(e.msgstr or e.msgstr_plural.get(0, "")))
    ]
    assert not broken, f"placeholders differ: {broken[:10]}"


def test_the_language_switcher_offers_settings_languages_each_in_its_own_name(tenant, settings):
    from tests.support.clients import client_for

    page = client_for(tenant, HTTP_ACCEPT_LANGUAGE="ja").get("/accounts/login/").content.decode()
    switch = page.split('class="inline lang-switch"', 1)[1].split("</form>", 1)[0]
    offered = re.findall(r'name="language" value="(\w+)"[^>]*>([^<]+)<', switch)
    assert offered == [("en", "English")]  # every language but the page's own
    page = client_for(tenant, HTTP_ACCEPT_LANGUAGE="en").get("/accounts/login/").content.decode()
    assert 'value="ja" class="link" lang="ja">日本語<' in page
    assert {code for code, _name in settings.LANGUAGES} == {"ja", "en"}
