"""SECURITY.md names the test behind each defence: every name it gives must exist."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _defined(source: str, name: str) -> bool:
    """`test_x`, or `TestClass::test_x` (the class and a method of that name in the file)."""
    *classes, function = name.split("::")
    return all(re.search(rf"^class {c}\b", source, re.M) for c in classes) and bool(
        re.search(rf"^\s*def {function}\(", source, re.M))


def test_every_test_named_in_security_md_exists():
    text = (ROOT / "SECURITY.md").read_text()
    named = set(re.findall(r"(tests/[\w/]+\.py)::((?:[A-Z]\w*::)?\w+)", text))
    assert len(named) > 20
    missing = [
        f"{path}::{name}" for path, name in sorted(named)
        if not (ROOT / path).exists() or not _defined((ROOT / path).read_text(), name)
    ]
    assert not missing, f"SECURITY.md names tests that do not exist: {missing}"
