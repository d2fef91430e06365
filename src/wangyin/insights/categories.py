"""Spending and income categories (issue 9 §5): a rule table over the statement line's
remark (memo) and counterparty, first match wins. The same table is evaluated in SQL (the
charts' aggregates, `sql_category`) and in Python (`categorise`, for one line and for the
unit tests); an integration test proves the two agree. A customer's corrections
(models.py) win over every rule. docs/insights.md prints this table."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, case, func, or_
from sqlalchemy.sql.elements import ColumnElement

# key -> (English msgid, shown in Chinese from insights.po). The order is the order of
# the customer's category list.
CATEGORIES: dict[str, str] = {
    "dining": "Food and dining",
    "transport": "Getting around",
    "shopping": "Shopping and groceries",
    "bills": "Bills and utilities",
    "housing": "Rent and housing",
    "repayment": "Loan and card repayments",
    "transfer_out": "Transfers to others",
    "wealth": "Savings and investments",
    "salary": "Salary and wages",
    "transfer_in": "Transfers received",
    "cash": "Cash deposits and withdrawals",
    "other": "Other",
}
OTHER = "other"


@dataclass(frozen=True)
class Rule:
    category: str
    words: str = ""  # space-separated, found in the remark or the counterparty's name
    direction: str = "any"  # in (money received) | out (money paid) | any
    to_person: bool = False  # instead of words: the line names an account (a person's)

    @property
    def keywords(self) -> tuple[str, ...]:
        return tuple(self.words.split())


# First match wins: the narrow rules (salary, repayments) before the broad ones.
RULES: tuple[Rule, ...] = (
    Rule("salary", "工资 薪 奖金 代发 salary payroll wage", "in"),
    Rule("repayment", "还款 信用卡 贷款 花呗 白条 repay loan", "out"),
    Rule(
        "bills",
        "缴费 电费 水费 燃气 话费 宽带 物业 国家电网 中国移动 中国联通 中国电信 utility bill",
        "out",
    ),
    Rule("housing", "房租 租房 租金", "out"),
    Rule(
        "dining",
        "餐饮 外卖 美团 饿了么 餐厅 饭 咖啡 星巴克 麦当劳 肯德基 restaurant coffee",
        "out",
    ),
    Rule(
        "transport",
        "交通 滴滴 出行 地铁 公交 铁路 12306 航空 机票 加油 停车 打车 taxi",
        "out",
    ),
    Rule(
        "shopping",
        "购物 京东 淘宝 天猫 拼多多 超市 盒马 商城 便利店 shop",
        "out",
    ),
    Rule("wealth", "理财 基金 定期 利息 分红 存单 interest"),
    Rule("cash", "现金 存入 取款 ATM cash"),
    Rule("transfer_out", direction="out", to_person=True),
    Rule("transfer_in", direction="in", to_person=True),
)


def _direction_ok(rule: Rule, amount_minor: int) -> bool:
    if rule.direction == "in":
        return amount_minor > 0
    if rule.direction == "out":
        return amount_minor < 0
    return True


def categorise(
    *, memo: str, counterparty_name: str, counterparty_account: str, amount_minor: int
) -> str:
    """The rules' category of one statement line (no corrections)."""
    text = f"{memo}\n{counterparty_name}".lower()
    for rule in RULES:
        if not _direction_ok(rule, amount_minor):
            continue
        if rule.to_person:
            if counterparty_account:
                return rule.category
        elif any(word.lower() in text for word in rule.keywords):
            return rule.category
    return OTHER


def sql_category(posting: Any) -> ColumnElement[str]:
    """The same rules as one CASE expression over a postings table (or its alias)."""
    memo = func.lower(posting.memo)
    name = func.lower(posting.counterparty_name)
    whens = []
    for rule in RULES:
        conditions: list[ColumnElement[bool]] = []
        if rule.direction == "in":
            conditions.append(posting.amount_minor > 0)
        elif rule.direction == "out":
            conditions.append(posting.amount_minor < 0)
        if rule.to_person:
            conditions.append(posting.counterparty_account != "")
        else:
            conditions.append(
                or_(
                    *(
                        column.contains(word.lower(), autoescape=True)
                        for word in rule.keywords
                        for column in (memo, name)
                    )
                )
            )
        whens.append((and_(*conditions), rule.category))
    return case(*whens, else_=OTHER)
