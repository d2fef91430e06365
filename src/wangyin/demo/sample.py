"""The demo's sample data: made up, held in memory, the same for every visitor and never
written anywhere. Nothing here is, or points at, a real customer or account: the account
numbers use the reserved demo prefix 6299 99 that no card or account of the bank has, and
the names are the textbook examples."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

DEMO_NAME_ZH = "演示用户"
DEMO_NAME_EN = "Demo customer"
# The per-transfer and daily limits a new online banking starts with (Settings defaults).
DEMO_SINGLE_LIMIT_MINOR = 50_000_00


@dataclass(frozen=True)
class SampleAccount:
    key: str
    zh: str
    en: str
    number: str
    currency: str
    balance_minor: int

    def title(self, lang: str) -> str:
        return self.zh if lang == "zh" else self.en


@dataclass(frozen=True)
class SampleLine:
    days_ago: int
    account: str
    amount_minor: int  # + in, - out
    zh: str
    en: str
    counterparty: str

    def title(self, lang: str) -> str:
        return self.zh if lang == "zh" else self.en

    def on(self, today: date) -> date:
        return today - timedelta(days=self.days_ago)


@dataclass(frozen=True)
class SamplePayee:
    name: str
    number: str


ACCOUNTS: tuple[SampleAccount, ...] = (
    SampleAccount("current", "活期账户", "Current account", "6299990000001234", "CNY", 28_650_35),
    SampleAccount("savings", "定期存款", "Time deposit", "6299990000005678", "CNY", 100_000_00),
)
BY_KEY = {a.key: a for a in ACCOUNTS}

LINES: tuple[SampleLine, ...] = (
    SampleLine(1, "current", -86_50, "超市购物", "Supermarket", "示例超市"),
    SampleLine(2, "current", -3_200_00, "转账给 李娜", "Transfer to Li Na", "李娜"),
    SampleLine(3, "current", -128_00, "水电燃气费", "Utilities", "示例水务"),
    SampleLine(5, "current", 12_500_00, "工资", "Salary", "示例科技有限公司"),
    SampleLine(7, "current", -45_00, "手机话费", "Mobile bill", "示例通信"),
    SampleLine(9, "current", -1_980_00, "房租", "Rent", "王芳"),
    SampleLine(12, "current", -260_80, "餐饮", "Restaurant", "示例餐厅"),
    SampleLine(15, "current", 500_00, "李娜 转入", "From Li Na", "李娜"),
    SampleLine(20, "current", -699_00, "网上购物", "Online shopping", "示例商城"),
    SampleLine(30, "savings", 100_000_00, "存入定期", "Deposit", "本人活期账户"),
)

PAYEES: tuple[SamplePayee, ...] = (
    SamplePayee("李娜", "6299990000002468"),
    SamplePayee("王芳", "6299990000003579"),
)


def balance_total_minor() -> int:
    return sum(a.balance_minor for a in ACCOUNTS)
