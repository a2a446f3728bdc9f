"""Our Japanese catalogue reads as a native product: one term per concept, full-width punctuation
(locale/README.md is the style guide; its glossary table is read here)."""

import re
from pathlib import Path

import polib
import pytest

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = ROOT / "locale/ja/LC_MESSAGES/django.po"
GUIDE = ROOT / "locale/README.md"

JAPANESE = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\u3000-\u303f\uff01-\uff60"
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|%[sd]|\{\w+\}")
# A half-width ? ! : ( ) , touching Japanese, or separated from it by one space.
HALF_WIDTH_NEXT_TO_JAPANESE = re.compile(rf"[{JAPANESE}] ?[?!:(),]|[?!:(),] ?[{JAPANESE}]")
SPACE_AFTER_FULL_STOP = re.compile(r"[。？！][ \u3000]")
# Latin letters, digits and placeholders are set off from kana and kanji by a space (6 桁, 30 秒,
# %(name)s さん); punctuation needs none.
LATIN_GLUED_TO_JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff][0-9A-Za-z]|[0-9A-Za-z][\u3040-\u30ff\u4e00-\u9fff]")


def quoted_from_the_guide():
    """Phrases locale/README.md keeps word for word (the organisation's guide shows them)."""
    section = GUIDE.read_text().split("## Quoted from the original guide", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^- `([^`]+)`$", section, re.M)


def msgstrs():
    quoted = quoted_from_the_guide()
    for entry in polib.pofile(str(CATALOGUE)):
        if entry.obsolete:
            continue
        for text in [entry.msgstr, *entry.msgstr_plural.values()]:
            for phrase in quoted:
                text = text.replace(phrase, "")
            if text:
                yield entry.msgid, text


def never_spellings():
    """(never, use) pairs from the glossary table of locale/README.md."""
    rows = re.findall(r"^\|([^|\n]+)\|([^|\n]+)\|([^|\n]+)\|$", GUIDE.read_text(), re.M)
    pairs = []
    for _english, use, never in rows:
        if never.strip() in ("never", "---"):
            continue
        pairs += [(word.strip(), use.strip()) for word in never.split(",") if word.strip()]
    return pairs


def offences(pattern, placeholder="0"):
    found = []
    for msgid, text in msgstrs():
        bare = PLACEHOLDER.sub(placeholder, text)
        found += [f"{msgid[:50]!r}: …{bare[max(0, m.start() - 6):m.end() + 6]}…"
                  for m in pattern.finditer(bare)]
    return found


def test_the_glossary_and_the_quotes_are_read():
    assert "※コードは30秒ごとに更新されます" in quoted_from_the_guide()
    pairs = dict(never_spellings())
    assert pairs["ログイン"] == "サインイン / サインアウト"
    assert "6桁" in pairs and "(確認)" in pairs and "個の" in pairs


def test_no_half_width_punctuation_in_japanese_text():
    assert not offences(HALF_WIDTH_NEXT_TO_JAPANESE), "\n".join(offences(HALF_WIDTH_NEXT_TO_JAPANESE))


def test_no_space_after_a_full_stop():
    assert not offences(SPACE_AFTER_FULL_STOP), "\n".join(offences(SPACE_AFTER_FULL_STOP))


def test_latin_and_numbers_are_spaced_from_japanese_one_way():
    # A placeholder may stand for Japanese ("%(method)sを削除しました": 秘密の質問を削除しました).
    glued = offences(LATIN_GLUED_TO_JAPANESE, placeholder="・")
    assert not glued, "\n".join(glued)


@pytest.mark.parametrize(("never", "use"), never_spellings())
def test_one_spelling_per_concept(never, use):
    found = [f"{msgid[:60]!r}: {text}" for msgid, text in msgstrs() if never in text]
    assert not found, f"{never!r} (use {use}):\n" + "\n".join(found)


def test_the_checks_catch_what_they_are_for():
    """The patterns themselves, on known bad and good text."""
    bad = ["許可しますか?", "最新ですか? 組織", "新しいパスワード (確認)", "登録状況:", "1: 登録済み",
           "シングルサインオン (OpenID Connect)"]
    good = ["許可しますか？", "新しいパスワード（確認）", "UTF-8 でも", "1 行目は email,name にしてください。"]
    assert all(HALF_WIDTH_NEXT_TO_JAPANESE.search(PLACEHOLDER.sub("0", text)) for text in bad)
    assert not any(HALF_WIDTH_NEXT_TO_JAPANESE.search(PLACEHOLDER.sub("0", text)) for text in good)
    assert SPACE_AFTER_FULL_STOP.search("です。 次へ") and not SPACE_AFTER_FULL_STOP.search("です。次へ")
    assert LATIN_GLUED_TO_JAPANESE.search("6桁") and LATIN_GLUED_TO_JAPANESE.search("表示された6 桁")
    assert not LATIN_GLUED_TO_JAPANESE.search("表示された 6 桁の（UTF-8）")


# --- allauth's pages and messages, as a Japanese user sees them ---------------------------------

def visible_text(response):
    from ..support.html import parse

    page = parse(response.content)
    for hidden in ("script", "style"):
        for element in list(page.find_all(hidden)):
            element.children = []
    return page.find("main").text() + " " + page.find("title").text()


def assert_native(text):
    bare = PLACEHOLDER.sub("0", text)
    assert "ログイン" not in bare and "ログアウト" not in bare, text
    assert not HALF_WIDTH_NEXT_TO_JAPANESE.search(bare), text
    assert "(確認)" not in bare and "再入力" not in bare, text


@pytest.mark.django_db
def test_allauths_pages_we_use_speak_our_japanese(no_nudge, user):
    from django.test import Client

    from ..conftest import PASSWORD

    client = Client(HTTP_HOST="demo.localhost", HTTP_ACCEPT_LANGUAGE="ja")
    seen = {"login": client.get("/accounts/login/")}
    refused = client.post("/accounts/login/", {"login": user.email, "password": "wrong"})
    seen["wrong password"] = refused
    signed_in = client.post("/accounts/login/", {"login": user.email, "password": PASSWORD}, follow=True)
    seen["signed in"] = signed_in
    seen["change password"] = client.get("/accounts/password/change/")
    seen["change password, errors"] = client.post("/accounts/password/change/", {
        "oldpassword": "wrong", "password1": "x", "password2": "y"})
    seen["confirm it is you"] = client.get("/accounts/reauthenticate/")
    seen["sign out"] = client.get("/accounts/logout/")
    seen["signed out"] = client.post("/accounts/logout/", follow=True)
    for name, response in seen.items():
        assert response.status_code == 200, name
        assert_native(visible_text(response))
    assert "サインアウトしました" in visible_text(seen["signed out"])


@pytest.mark.django_db
def test_the_failed_sign_in_limit_speaks_our_japanese(no_nudge, user, settings):
    from django.test import Client

    client = Client(HTTP_HOST="demo.localhost", HTTP_ACCEPT_LANGUAGE="ja")
    for _ in range(30):
        response = client.post("/accounts/login/", {"login": user.email, "password": "wrong"})
        if "多すぎ" in response.content.decode():
            break
    text = visible_text(response)
    assert "多すぎ" in text
    assert_native(text)
