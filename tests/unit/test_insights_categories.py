"""The category rule table (issue 9 §5): first match wins, direction matters, a line that
names an account is a transfer, English keywords ignore case, and the one-sentence
summaries' arithmetic (integer percent, rounded half up)."""

from __future__ import annotations

import pytest

from wangyin.i18n import catalog
from wangyin.insights import texts
from wangyin.insights.categories import CATEGORIES, OTHER, RULES, categorise


def cat(memo: str = "", who: str = "", number: str = "", amount: int = -1) -> str:
    return categorise(
        memo=memo, counterparty_name=who, counterparty_account=number, amount_minor=amount
    )


@pytest.mark.parametrize(
    ("memo", "who", "number", "amount", "expected"),
    [
        ("餐饮", "美团外卖", "", -1, "dining"),
        ("午饭", "小店", "", -1, "dining"),
        ("交通", "滴滴出行", "", -1, "transport"),
        ("购物", "京东商城", "", -1, "shopping"),
        ("超市", "盒马鲜生", "", -1, "shopping"),
        ("电费", "国家电网", "", -1, "bills"),
        ("话费", "中国移动", "", -1, "bills"),
        ("房租", "链家租房", "", -1, "housing"),
        ("信用卡还款", "招商银行", "", -1, "repayment"),
        ("工资", "某某科技有限公司", "", 1, "salary"),
        ("购买理财", "", "", -1, "wealth"),
        ("开户存入", "柜面现金", "", 1, "cash"),
        ("转账", "李娜", "6222000011112222", -1, "transfer_out"),
        ("转账", "李娜", "6222000011112222", 1, "transfer_in"),
        ("STARBUCKS COFFEE", "", "", -1, "dining"),
        ("", "", "", -1, OTHER),
        ("", "", "", 1, OTHER),
    ],
)
def test_rules(memo: str, who: str, number: str, amount: int, expected: str) -> None:
    assert cat(memo, who, number, amount) == expected


def test_first_match_wins_and_direction_matters() -> None:
    # A salary rule only for money in: paying wages out is not "salary".
    assert cat("工资", amount=1) == "salary"
    assert cat("工资", amount=-1) != "salary"
    # A remark wins over "it names an account": 饭钱 paid to a person is dining.
    assert cat("饭钱", "李娜", "6222000011112222", -1) == "dining"
    # Repayment comes before shopping: a card repayment to 京东白条 is a repayment.
    assert cat("白条还款", "京东商城") == "repayment"
    # No keyword that is part of an ordinary English word (current, refund).
    assert cat("current account interest", amount=1) == "wealth"
    assert cat("refund", amount=1) == OTHER


def test_every_rule_names_a_known_category_with_chinese() -> None:
    zh = catalog("zh")
    assert {rule.category for rule in RULES} <= set(CATEGORIES)
    assert all(zh.get(name) for name in CATEGORIES.values())
    assert [zh[CATEGORIES[key]] for key in ("dining", "transport", "shopping", "transfer_out",
            "salary", "repayment", "bills", "wealth", "other")] == [
        "餐饮", "交通", "购物", "转账给他人", "工资", "还款", "缴费", "理财", "其他",
    ]  # fmt: skip


def test_percentages_are_whole_and_rounded_half_up() -> None:
    assert texts.percent_change(3_250_00, 3_693_18) == 12
    assert texts.percent_change(150, 100) == 50
    assert texts.percent_change(1, 200) == 100  # 99.5 -> 100
    assert texts.share(1, 3) == 33 and texts.share(2, 3) == 67 and texts.share(5, 0) == 0


def test_month_labels() -> None:
    assert texts.month_label("2026-03", "zh") == "2026年3月"
    assert texts.month_label("2026-03", "zh", short=True) == "3月"
    assert texts.month_label("2026-12", "en") == "Dec 2026"
