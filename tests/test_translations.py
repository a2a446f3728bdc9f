"""Every text of the portal has its Japanese: the catalogue has no untranslated or fuzzy entry."""

from pathlib import Path

import polib

CATALOGUE = Path(__file__).resolve().parent.parent / "locale/ja/LC_MESSAGES/django.po"


def test_japanese_catalogue_is_complete():
    po = polib.pofile(str(CATALOGUE))
    assert len(po) > 300
    untranslated = [e.msgid for e in po.untranslated_entries() if not e.obsolete]
    fuzzy = [e.msgid for e in po.fuzzy_entries()]
    assert not untranslated, f"untranslated: {untranslated[:10]}"
    assert not fuzzy, f"fuzzy (unchecked guesses): {fuzzy[:10]}"


def test_placeholders_survive_translation():
    po = polib.pofile(str(CATALOGUE))
    import re

    pattern = re.compile(r"%\(\w+\)[sd]|\{\w+\}")
    broken = [
        e.msgid for e in po.translated_entries()
        if sorted(pattern.findall(e.msgid)) != sorted(pattern.findall(e.msgstr or e.msgstr_plural.get(0, "")))
    ]
    assert not broken, f"placeholders differ: {broken[:10]}"
