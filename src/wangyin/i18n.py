"""Simplified Chinese first, English second.

Source strings are English (gettext msgids); `web/locales/<lang>/LC_MESSAGES/*.po` hold
the translations, read with Babel at start-up (no compile step to forget): `messages.po`
for the core, and one catalog per domain that needs many strings (`clearing.po`, …), so
work on different domains does not edit one file. A msgid defined twice is an error.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from babel.messages.pofile import read_po

LANGUAGES = ("zh", "en")
DEFAULT_LANGUAGE = "zh"
LOCALE_DIR = Path(__file__).parent / "web" / "locales"
_CATALOG_NAMES = {"zh": "zh_Hans", "en": "en"}


@cache
def catalog(lang: str) -> dict[str, str]:
    table: dict[str, str] = {}
    for path in sorted((LOCALE_DIR / _CATALOG_NAMES[lang] / "LC_MESSAGES").glob("*.po")):
        with path.open("rb") as handle:
            po = read_po(handle)
        for m in po:
            if m.id and m.string and not m.fuzzy:
                if str(m.id) in table and table[str(m.id)] != str(m.string):
                    raise ValueError(f"{path.name}: {m.id!r} is translated differently elsewhere")
                table[str(m.id)] = str(m.string)
    return table


def gettext(text: str, lang: str, **params: Any) -> str:
    if lang == "en":
        return text.format(**params) if params else text
    table = catalog(lang)
    translated = table.get(text, text)
    if not params:
        return translated
    # Parameters that are themselves messages (e.g. the reason a password is weak) are
    # translated too; numbers and currency codes are not in the catalog and stay as they are.
    localized = {k: table.get(v, v) if isinstance(v, str) else v for k, v in params.items()}
    return translated.format(**localized)


def pick_language(query: str | None, cookie: str | None, accept: str | None) -> str:
    """Explicit choice (query, then cookie) wins; else Accept-Language; else Chinese."""
    for choice in (query, cookie):
        if choice in LANGUAGES:
            return choice
    if accept:
        for part in accept.split(","):
            tag = part.split(";")[0].strip().lower()
            if tag.startswith("zh"):
                return "zh"
            if tag.startswith("en"):
                return "en"
    return DEFAULT_LANGUAGE
