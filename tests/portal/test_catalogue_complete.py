"""No text of the portal reaches a Japanese page in English: every translatable string in the
code, templates and e-mails is in the Japanese catalogue, translated.

The catalogue is extracted again from a copy of the source (what `makemessages` would add) and
merged with today's translations; a string nobody added to the catalogue shows up untranslated.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import polib

ROOT = Path(__file__).resolve().parents[2]
NOT_SOURCE = {".venv", ".git", "tests", "bench", "var", "staticfiles", "__pycache__", ".ruff_cache"}


def test_every_translatable_string_has_its_japanese(tmp_path):
    for entry in ROOT.iterdir():
        if entry.name in NOT_SOURCE or entry.name.startswith("."):
            continue
        if entry.is_dir():
            shutil.copytree(entry, tmp_path / entry.name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(entry, tmp_path / entry.name)
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    result = subprocess.run(
        [sys.executable, "manage.py", "makemessages", "-l", "ja", "--no-obsolete", "-v", "0"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    po = polib.pofile(str(tmp_path / "locale/ja/LC_MESSAGES/django.po"))
    missing = [(e.msgid, e.occurrences[:1]) for e in po.untranslated_entries()]
    guessed = [(e.msgid, e.occurrences[:1]) for e in po.fuzzy_entries()]
    assert len(po) > 300
    assert not missing, f"not in the Japanese catalogue: {missing[:10]}"
    assert not guessed, f"only a fuzzy guess in the catalogue: {guessed[:10]}"
