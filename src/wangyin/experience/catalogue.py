"""Every function and FAQ entry the search box finds (5.2.3-a/b): data, not code. A test
checks that every url is a real route, so a renamed page cannot leave a dead result."""

from __future__ import annotations

from dataclasses import dataclass

from wangyin.help.faq import QUESTIONS

# The bank's customer-service line, one tap away in care mode (tel: link).
BANK_PHONE = "95588"


@dataclass(frozen=True)
class Entry:
    key: str
    zh: str
    en: str
    url: str
    keywords: tuple[str, ...] = ()
    kind: str = "function"  # function | faq
    main: bool = False  # one of the main tasks care mode keeps in its menu
    answer_zh: str = ""
    answer_en: str = ""

    def title(self, lang: str) -> str:
        return self.zh if lang == "zh" else self.en

    def answer(self, lang: str) -> str:
        return self.answer_zh if lang == "zh" else self.answer_en


_FUNCTIONS: tuple[Entry, ...] = (
    Entry(
        "accounts",
        "我的账户",
        "My accounts",
        "/accounts",
        ("余额", "查询余额", "明细", "balance", "account"),
        main=True,
    ),
    Entry(
        "transfer",
        "转账",
        "Transfer",
        "/transfer",
        ("汇款", "付款", "转钱", "pay", "send money"),
        main=True,
    ),
    Entry(
        "interbank",
        "跨行转账",
        "Transfer to other banks",
        "/interbank",
        ("他行", "跨行", "interbank", "other bank"),
    ),
    Entry(
        "mobile_transfer",
        "手机号转账",
        "Transfer by mobile number",
        "/mobile-transfer",
        ("手机", "mobile", "phone"),
    ),
    Entry(
        "mobile_alias",
        "手机号收款",
        "Receive by mobile number",
        "/mobile-alias",
        ("收款", "手机", "alias", "receive"),
    ),
    Entry(
        "schedules",
        "预约转账",
        "Scheduled transfers",
        "/transfer/schedules",
        ("定时", "周期", "预约", "schedule", "recurring"),
    ),
    Entry(
        "batches",
        "批量转账",
        "Batch transfers",
        "/transfer/batches",
        ("批量", "代发", "工资", "batch", "payroll"),
    ),
    Entry(
        "payees",
        "收款人",
        "Payees",
        "/payees",
        ("常用收款人", "联系人", "payee", "contacts"),
        main=True,
    ),
    Entry("payee_new", "新增收款人", "Add a payee", "/payees/new", ("添加", "add payee")),
    Entry(
        "security",
        "安全中心",
        "Security center",
        "/security",
        ("限额", "设备", "安全", "limits", "devices", "security"),
    ),
    Entry(
        "freeze",
        "冻结账户",
        "Freeze my banking",
        "/security/freeze/all",
        ("冻结", "挂失", "freeze", "lost"),
    ),
    Entry(
        "log",
        "操作日志",
        "Operation log",
        "/security/log",
        ("日志", "记录", "登录记录", "log", "history"),
    ),
    Entry("password", "修改密码", "Change password", "/password", ("密码", "登录密码", "password")),
    Entry(
        "forgot",
        "忘记密码",
        "Forgot password",
        "/password/forgot",
        ("找回密码", "重置密码", "reset password"),
    ),
    Entry(
        "receipt_verify",
        "验证回单",
        "Verify a receipt",
        "/receipts/verify",
        ("回单", "电子回单", "receipt"),
    ),
    Entry(
        "care",
        "关爱版",
        "Care mode",
        "/care",
        ("大字", "老年", "长辈", "适老", "large text", "elderly", "accessibility"),
    ),
    Entry(
        "insights",
        "收支分析",
        "Income and spending analysis",
        "/insights",
        ("图表", "分析", "消费", "支出", "收入", "分类", "余额走势", "chart", "spending", "budget"),
    ),
    Entry("functions", "全部功能", "All functions", "/functions", ("功能", "菜单", "menu")),
    Entry("help", "帮助与常见问题", "Help and FAQ", "/help", ("帮助", "常见问题", "help", "faq")),
    Entry("demo", "演示模式", "Try the demo", "/demo", ("演示", "体验", "试用", "demo", "try")),
)


def _faq_entries() -> tuple[Entry, ...]:
    """The hook for the FAQ (help/faq.py, 5.2.1-d): its questions are searched like the
    functions and open at their anchor on /help. After the functions, so a tie goes to
    the function."""
    return tuple(
        Entry(
            q.key,
            q.zh,
            q.en,
            f"/help#{q.key}",
            q.keywords,
            kind="faq",
            answer_zh=q.answer_zh,
            answer_en=q.answer_en,
        )
        for q in QUESTIONS
    )


FUNCTIONS: tuple[Entry, ...] = _FUNCTIONS + _faq_entries()

BY_KEY = {entry.key: entry for entry in FUNCTIONS}
