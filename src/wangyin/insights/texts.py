"""Words around the charts, in the customer's language: month names, category names and
the one-sentence summary each chart carries ("本月支出 3,250.00 元，比上月少 12%。")."""

from __future__ import annotations

import calendar

from wangyin.i18n import gettext
from wangyin.insights.categories import CATEGORIES
from wangyin.insights.service import Balance, Categories, Monthly
from wangyin.money import format_grouped


def month_label(key: str, lang: str, *, short: bool = False) -> str:
    year, month = int(key[:4]), int(key[5:7])
    if lang == "zh":
        return f"{month}月" if short else f"{year}年{month}月"
    name = calendar.month_abbr[month]
    return name if short else f"{name} {year}"


def category_name(key: str, lang: str) -> str:
    return gettext(CATEGORIES.get(key, CATEGORIES["other"]), lang)


def percent_change(current: int, previous: int) -> int:
    """Whole percent of the change, rounded half up, integer arithmetic only."""
    return (abs(current - previous) * 200 + previous) // (2 * previous)


def share(part: int, whole: int) -> int:
    return (part * 200 + whole) // (2 * whole) if whole else 0


def _compared(current: int, previous: int, lang: str) -> str:
    if previous <= 0:
        return ""
    if current == previous:
        return gettext(", the same as last month", lang)
    pct = percent_change(current, previous)
    if current < previous:
        return gettext(", {pct}% less than last month", lang, pct=pct)
    return gettext(", {pct}% more than last month", lang, pct=pct)


def monthly_summary(data: Monthly, lang: str) -> str:
    current, previous = data.months[-1], data.months[-2]
    return gettext(
        "This month you spent {amount} yuan{compared} and received {income} yuan.",
        lang,
        amount=format_grouped(current.spending_minor, "CNY"),
        compared=_compared(current.spending_minor, previous.spending_minor, lang),
        income=format_grouped(current.income_minor, "CNY"),
    )


def categories_summary(data: Categories, lang: str) -> str:
    total = data.spending_minor
    month = month_label(data.month, lang)
    if not data.totals:
        return gettext("You spent nothing in {month}.", lang, month=month)
    top = data.totals[0]
    return gettext(
        "In {month} you spent {amount} yuan{compared}; the most on {category} ({share}%).",
        lang,
        month=month,
        amount=format_grouped(total, "CNY"),
        compared=_compared(total, data.previous_spending_minor, lang),
        category=category_name(top.category, lang),
        share=share(top.spending_minor, total),
    )


def balance_summary(data: Balance, lang: str) -> str:
    first, last = data.points[0], data.points[-1]
    return gettext(
        "Over the last {count} months the balance went from {start} to {end} {currency}.",
        lang,
        count=len(data.points),
        start=format_grouped(first.balance_minor, data.currency),
        end=format_grouped(last.balance_minor, data.currency),
        currency=data.currency,
    )
