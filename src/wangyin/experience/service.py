"""The function search: Chinese, full pinyin, pinyin initials (`zz` -> 转账, `mm` -> 修改密码),
English, with a little typo tolerance (difflib), best first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from difflib import SequenceMatcher
from functools import cache

from pypinyin import Style, lazy_pinyin
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from wangyin.experience.catalogue import FUNCTIONS, Entry
from wangyin.identity.models import Customer, User

# Care mode is suggested (never forced) from this age on (issue 9 §3).
SUGGEST_CARE_AGE = 60
# A misspelt word still finds its function when it is this close (e.g. "tranfser").
FUZZY_CUTOFF = 0.75
MAX_RESULTS = 8


@dataclass(frozen=True)
class Hit:
    entry: Entry
    score: float


def _normal(text: str) -> str:
    return "".join(text.lower().split())


@cache
def _forms(entry: Entry) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(strong forms: the titles, their full pinyin and initials; weak forms: keywords)."""

    def spellings(text: str) -> list[str]:
        found = [_normal(text)]
        if any("\u4e00" <= ch <= "\u9fff" for ch in text):
            found.append("".join(lazy_pinyin(text)).lower())
            found.append("".join(lazy_pinyin(text, style=Style.FIRST_LETTER)).lower())
        return found

    strong = spellings(entry.zh) + spellings(entry.en)
    weak = [form for word in entry.keywords for form in spellings(word)]
    return tuple(strong), tuple(weak)


def _score(query: str, form: str) -> float:
    if query == form:
        return 100.0
    if form.startswith(query):
        return 90.0 - min(len(form) - len(query), 9)
    if query in form:
        return 70.0 - min(len(form) - len(query), 9)
    if len(query) >= 4:
        ratio = SequenceMatcher(None, query, form).ratio()
        if ratio >= FUZZY_CUTOFF:
            return 50.0 * ratio
    return 0.0


def search(*, query: str, limit: int = MAX_RESULTS) -> list[Hit]:
    wanted = _normal(query)
    if not wanted:
        return []
    hits = []
    for entry in FUNCTIONS:
        strong, weak = _forms(entry)
        best = max(
            max((_score(wanted, f) for f in strong), default=0.0),
            max((_score(wanted, f) * 0.8 for f in weak), default=0.0),
        )
        if best > 0:
            hits.append(Hit(entry, best))
    hits.sort(key=lambda h: (-h.score, FUNCTIONS.index(h.entry)))
    return hits[:limit]


def care_mode(session: Session, *, user_id: int) -> bool:
    return bool(session.scalar(select(User.care_mode).where(User.id == user_id)))


def set_care_mode(session: Session, *, user_id: int, on: bool) -> None:
    session.execute(update(User).where(User.id == user_id).values(care_mode=on))


def age_on(id_number: str, *, today: date) -> int | None:
    """Age from the birth date in an 18-digit resident ID number (digits 7-14)."""
    try:
        born = date(int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14]))
    except ValueError:
        return None
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def suggest_care(session: Session, *, customer_id: int, today: date) -> bool:
    customer = session.get(Customer, customer_id)
    age = age_on(customer.id_number, today=today) if customer else None
    return age is not None and age >= SUGGEST_CARE_AGE
