"""Every error a customer can see has a Chinese translation."""

from __future__ import annotations

from string import Formatter

from wangyin.errors import ERRORS
from wangyin.i18n import LOCALE_DIR, catalog, gettext, pick_language


def test_every_error_message_has_a_chinese_translation() -> None:
    path = LOCALE_DIR / "zh_Hans" / "LC_MESSAGES" / "messages.po"
    assert path.exists(), f"missing catalog {path}"
    zh = catalog("zh")
    missing = sorted(code for code, (_, msgid) in ERRORS.items() if not zh.get(msgid))
    assert not missing, f"no Chinese translation for: {missing}"


def test_translations_keep_their_placeholders() -> None:
    zh = catalog("zh")
    for _status, msgid in ERRORS.values():
        if msgid in zh:
            # The translation uses exactly the fields the English message has.
            english = {name for _, name, _, _ in Formatter().parse(msgid) if name}
            chinese = {name for _, name, _, _ in Formatter().parse(zh[msgid]) if name}
            assert chinese == english, msgid


def test_english_is_the_msgid_itself() -> None:
    msgid = ERRORS["amount_too_precise"][1]
    assert gettext(msgid, "en", currency="CNY", places=2) == (
        "CNY amounts can have at most 2 decimal places."
    )


def test_language_choice_order() -> None:
    assert pick_language(None, None, None) == "zh"
    assert pick_language(None, None, "en-US,en;q=0.9") == "en"
    assert pick_language(None, None, "zh-CN,zh;q=0.9,en;q=0.8") == "zh"
    assert pick_language(None, "en", "zh-CN") == "en"  # cookie beats header
    assert pick_language("zh", "en", "en") == "zh"  # query beats cookie
    assert pick_language("fr", None, "de-DE") == "zh"
