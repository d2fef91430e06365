"""The charts' aggregates on SQLite and PostgreSQL (issue 9 §5): months in Beijing time at
the boundary, categories from the rules in SQL equal to the Python rules, corrections win
and stay with their customer, own-account transfers are neither income nor spending, the
balance at each month's end, and a statement budget (aggregates, not rows)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from factories import make_account, make_person
from wangyin.accounts.models import Account
from wangyin.clock import FrozenClock
from wangyin.db import Database
from wangyin.errors import DomainError
from wangyin.insights import service
from wangyin.insights.categories import categorise, sql_category
from wangyin.ledger import service as ledger
from wangyin.ledger.models import Posting
from wangyin.uow import run_read, run_write

RATES = {"CNY": "1", "USD": "7.20"}
# 2026-03-31 23:30 in Beijing is 15:30 UTC: March in Beijing, still March in UTC too;
# 2026-04-01 00:30 in Beijing is 2026-03-31 16:30 UTC: April in Beijing, March in UTC.
LAST_OF_MARCH = datetime(2026, 3, 31, 15, 30, tzinfo=UTC)
FIRST_OF_APRIL = datetime(2026, 3, 31, 16, 30, tzinfo=UTC)
NOW = datetime(2026, 4, 15, 2, 0, tzinfo=UTC)


def book(
    s: Session,
    account: Account,
    amount_minor: int,
    *,
    at: datetime,
    memo: str = "",
    who: str = "",
    number: str = "",
    other: Account | None = None,
) -> str:
    """One statement line on `account` (against the bank's clearing account, or against
    `other` for a transfer between two accounts); returns the line's public id."""
    if other is None:
        other_id = ledger.internal_account(
            s, purpose="CLEARING", currency=account.currency, at=at
        ).id
    else:
        other_id = other.ledger_account_id
    ledger.post(
        s,
        kind="payment",
        at=at,
        legs=[
            ledger.Leg(
                account.ledger_account_id,
                amount_minor,
                account.currency,
                memo=memo,
                counterparty_name=who,
                counterparty_account=number,
            ),
            ledger.Leg(other_id, -amount_minor, account.currency, memo=memo),
        ],
    )
    s.flush()
    found = s.scalar(
        select(Posting.public_id)
        .where(Posting.ledger_account_id == account.ledger_account_id)
        .order_by(Posting.id.desc())
        .limit(1)
    )
    assert found is not None
    return found


@pytest.fixture
def people(db: Database) -> dict[str, object]:
    def build(s: Session) -> dict[str, object]:
        start = datetime(2025, 1, 1, tzinfo=UTC)
        a = make_person(s, at=start, balance_minor=10_000_00)
        b = make_person(s, at=start, balance_minor=1_000_00)
        savings = make_account(s, a.customer, at=start, kind="savings")
        usd = make_account(s, a.customer, at=start, currency="USD", balance_minor=100_00)
        return {"a": a, "b": b, "savings": savings, "usd": usd}

    return run_write(db, build)


def test_month_boundary_is_beijing_time(db: Database, people: dict) -> None:
    a = people["a"]
    run_write(db, lambda s: book(s, a.account, -100_00, at=LAST_OF_MARCH, memo="外卖"))
    run_write(db, lambda s: book(s, a.account, -30_00, at=FIRST_OF_APRIL, memo="外卖"))
    data = run_read(
        db, lambda s: service.monthly(s, customer_id=a.customer.id, now=NOW, rates=RATES)
    )
    by_month = {m.month: m for m in data.months}
    assert len(data.months) == 12 and data.months[-1].month == "2026-04"
    assert data.months[0].month == "2025-05"
    assert by_month["2026-03"].spending_minor == 100_00
    assert by_month["2026-04"].spending_minor == 30_00
    march = run_read(
        db,
        lambda s: service.categories(
            s, customer_id=a.customer.id, month=date(2026, 3, 1), rates=RATES
        ),
    )
    april = run_read(
        db,
        lambda s: service.categories(
            s, customer_id=a.customer.id, month=date(2026, 4, 1), rates=RATES
        ),
    )
    assert march.spending_minor == 100_00
    assert april.spending_minor == 30_00 and april.previous_spending_minor == 100_00
    assert april.totals[0].category == "dining"


def test_income_spending_in_cny_and_own_transfers_left_out(db: Database, people: dict) -> None:
    a, b = people["a"], people["b"]

    def history(s: Session) -> None:
        book(s, a.account, 8_000_00, at=FIRST_OF_APRIL, memo="工资", who="某某科技有限公司")
        book(s, a.account, -50_00, at=FIRST_OF_APRIL, memo="话费", who="中国移动")
        book(s, people["usd"], -10_00, at=FIRST_OF_APRIL, memo="coffee")  # 72.00 CNY
        # Between two of a's own accounts: neither income nor spending.
        book(s, a.account, -1_000_00, at=FIRST_OF_APRIL, memo="存定期", other=people["savings"])
        # To b: a's spending, b's income.
        book(s, a.account, -200_00, at=FIRST_OF_APRIL, memo="转账", who="李娜",
             number=b.account.account_number, other=b.account)  # fmt: skip

    run_write(db, history)
    mine = run_read(
        db, lambda s: service.monthly(s, customer_id=a.customer.id, now=NOW, rates=RATES)
    )
    april = mine.months[-1]
    assert april.income_minor == 8_000_00
    assert april.spending_minor == 50_00 + 72_00 + 200_00
    theirs = run_read(
        db, lambda s: service.monthly(s, customer_id=b.customer.id, now=NOW, rates=RATES)
    )
    assert theirs.months[-1].income_minor == 200_00
    cats = run_read(
        db,
        lambda s: service.categories(
            s, customer_id=a.customer.id, month=date(2026, 4, 1), rates=RATES
        ),
    )
    assert {t.category: t.spending_minor for t in cats.totals} == {
        "transfer_out": 200_00,
        "dining": 72_00,
        "bills": 50_00,
    }
    no_rate = run_read(
        db, lambda s: service.monthly(s, customer_id=a.customer.id, now=NOW, rates={"CNY": "1"})
    )
    assert no_rate.unrated_currencies == ["USD"]
    assert no_rate.months[-1].spending_minor == 250_00


SAMPLES = [
    ("工资", "某某科技有限公司", "", 1),
    ("餐饮", "美团外卖", "", -1),
    ("超市", "盒马鲜生", "", -1),
    ("电费", "国家电网", "", -1),
    ("房租", "链家租房", "", -1),
    ("信用卡还款", "招商银行", "", -1),
    ("转账", "李娜", "6222000011112222", -1),
    ("转账", "李娜", "6222000011112222", 1),
    ("开户存入", "柜面现金", "", 1),
    ("Coffee 100%_", "Star_bucks", "", -1),
    ("", "", "", -1),
]


def test_sql_rules_equal_the_python_rules(db: Database, people: dict) -> None:
    a = people["a"]

    def history(s: Session) -> list[str]:
        return [
            book(s, a.account, sign * 10_00, at=FIRST_OF_APRIL, memo=m, who=w, number=n)
            for m, w, n, sign in SAMPLES
        ]

    ids = run_write(db, history)

    def in_sql(s: Session) -> dict[str, str]:
        rows = s.execute(
            select(Posting.public_id, sql_category(Posting)).where(Posting.public_id.in_(ids))
        ).all()
        return {row[0]: row[1] for row in rows}

    found = run_read(db, in_sql)
    expected = {
        pid: categorise(memo=m, counterparty_name=w, counterparty_account=n, amount_minor=sign)
        for pid, (m, w, n, sign) in zip(ids, SAMPLES, strict=True)
    }
    assert found == expected
    assert list(expected.values()) == [
        "salary", "dining", "shopping", "bills", "housing", "repayment",
        "transfer_out", "transfer_in", "cash", "dining", "other",
    ]  # fmt: skip


def test_corrections_win_and_belong_to_their_customer(db: Database, people: dict) -> None:
    a, b = people["a"], people["b"]

    def history(s: Session) -> tuple[str, str, str]:
        first = book(s, a.account, -40_00, at=FIRST_OF_APRIL, memo="午饭", who="小店")
        second = book(s, a.account, -60_00, at=FIRST_OF_APRIL, memo="晚饭", who="小店")
        theirs = book(s, b.account, -10_00, at=FIRST_OF_APRIL, memo="午饭", who="小店")
        return first, second, theirs

    first, second, theirs = run_write(db, history)
    april = date(2026, 4, 1)

    def totals(customer_id: int) -> dict[str, int]:
        data = run_read(
            db,
            lambda s: service.categories(s, customer_id=customer_id, month=april, rates=RATES),
        )
        return {t.category: t.spending_minor for t in data.totals}

    assert totals(a.customer.id) == {"dining": 100_00}
    line = run_write(
        db,
        lambda s: service.set_category(
            s, customer_id=a.customer.id, entry_id=first, category="shopping", always=False, at=NOW
        ),
    )
    assert line.category == "shopping" and line.corrected == "entry"
    assert totals(a.customer.id) == {"dining": 60_00, "shopping": 40_00}
    # Always for this counterparty: the other line follows; the corrected line keeps its own.
    run_write(
        db,
        lambda s: service.set_category(
            s, customer_id=a.customer.id, entry_id=second, category="other", always=True, at=NOW
        ),
    )
    run_write(  # the same correction again changes nothing (an upsert, not a second row)
        db,
        lambda s: service.set_category(
            s, customer_id=a.customer.id, entry_id=second, category="other", always=True, at=NOW
        ),
    )
    assert totals(a.customer.id) == {"other": 60_00, "shopping": 40_00}
    # b's line with the same counterparty is b's own: untouched by a's choices.
    assert totals(b.customer.id) == {"dining": 10_00}
    with pytest.raises(DomainError) as refused:
        run_write(
            db,
            lambda s: service.set_category(
                s, customer_id=a.customer.id, entry_id=theirs, category="other", always=True, at=NOW
            ),
        )
    assert refused.value.code == "statement_line_not_found"
    with pytest.raises(DomainError) as bad:
        run_write(
            db,
            lambda s: service.set_category(
                s, customer_id=a.customer.id, entry_id=first, category="bogus", always=False, at=NOW
            ),
        )
    assert bad.value.code == "invalid_category"
    lines = run_read(db, lambda s: service.entries(s, customer_id=a.customer.id, month=april))
    assert {line.id: line.corrected for line in lines}[first] == "entry"


def test_balance_at_each_month_end(db: Database, people: dict) -> None:
    a = people["a"]
    run_write(db, lambda s: book(s, a.account, -100_00, at=LAST_OF_MARCH, memo="x"))
    run_write(db, lambda s: book(s, a.account, 50_00, at=FIRST_OF_APRIL, memo="y"))
    data = run_read(
        db,
        lambda s: service.balance(
            s, customer_id=a.customer.id, account_id=a.account.public_id, now=NOW
        ),
    )
    by_month = {p.month: p.balance_minor for p in data.points}
    assert by_month["2025-05"] == 10_000_00  # funded in January 2025: carried forward
    assert by_month["2026-02"] == 10_000_00
    assert by_month["2026-03"] == 9_900_00
    assert by_month["2026-04"] == 9_950_00
    with pytest.raises(DomainError) as refused:
        run_read(
            db,
            lambda s: service.balance(
                s, customer_id=people["b"].customer.id, account_id=a.account.public_id, now=NOW
            ),
        )
    assert refused.value.code == "account_not_found"


def test_parse_month_is_strict_and_bounded() -> None:
    assert service.parse_month("", now=NOW) == date(2026, 4, 1)
    assert service.parse_month("2026-03", now=NOW) == date(2026, 3, 1)
    assert service.parse_month("2000-01", now=NOW) == date(2000, 1, 1)
    # 2026-03-31 16:30 UTC is already April in Beijing.
    assert service.parse_month("", now=FIRST_OF_APRIL) == date(2026, 4, 1)
    for bad in ("2026-3", "2026-13", "2026-00", "1999-12", "2026-05", "26-03", "2026-03-01",
                "２０２６-03", "2026-03\n", "9999-99"):  # fmt: skip
        with pytest.raises(DomainError) as refused:
            service.parse_month(bad, now=NOW)
        assert refused.value.code == "invalid_month", bad


def test_each_chart_is_a_few_statements_however_long_the_history(
    db: Database, people: dict, clock: FrozenClock
) -> None:
    a = people["a"]

    def history(s: Session) -> None:
        for day in range(1, 29):
            for month in range(1, 4):
                at = datetime(2026, month, day, 4, 0, tzinfo=UTC)
                book(s, a.account, -1_00, at=at, memo="外卖")

    run_write(db, history)
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        run_read(db, lambda s: service.monthly(s, customer_id=a.customer.id, now=NOW, rates=RATES))
        monthly = len(statements)
        statements.clear()
        run_read(
            db,
            lambda s: service.categories(
                s, customer_id=a.customer.id, month=date(2026, 3, 1), rates=RATES
            ),
        )
        by_category = len(statements)
        statements.clear()
        run_read(
            db,
            lambda s: service.balance(
                s, customer_id=a.customer.id, account_id=a.account.public_id, now=NOW
            ),
        )
        balance = len(statements)
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    # Besides BEGIN/session bookkeeping the transaction may issue: one aggregate each (two
    # for the balance: the account's ownership, then the month-end balances).
    assert monthly <= 2 and by_category <= 2 and balance <= 3, (monthly, by_category, balance)


def test_two_tabs_correcting_at_once_leave_one_row(db: Database, people: dict) -> None:
    """The correction is an upsert: concurrent saves of the same line (and the same
    counterparty) never fail on the unique key and leave one row each."""
    from concurrent.futures import ThreadPoolExecutor

    from sqlalchemy import func

    from wangyin.insights.models import CounterpartyCategory, EntryCategory

    a = people["a"]
    line = run_write(db, lambda s: book(s, a.account, -5_00, at=FIRST_OF_APRIL, memo="x", who="y"))
    choices = ["dining", "shopping", "transport", "bills"] * 2

    def save(category: str) -> str:
        return run_write(
            db,
            lambda s: service.set_category(
                s, customer_id=a.customer.id, entry_id=line, category=category, always=True, at=NOW
            ),
        ).category

    with ThreadPoolExecutor(max_workers=4) as pool:
        saved = list(pool.map(save, choices))
    assert set(saved) <= set(choices)

    def rows(s: Session) -> tuple[int, int]:
        return (
            s.scalar(select(func.count()).select_from(EntryCategory)) or 0,
            s.scalar(select(func.count()).select_from(CounterpartyCategory)) or 0,
        )

    assert run_read(db, rows) == (1, 1)
