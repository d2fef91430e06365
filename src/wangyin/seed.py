"""Demo data: customers with CNY and USD accounts and three months of realistic history."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from wangyin.accounts import service as accounts
from wangyin.accounts.models import Account
from wangyin.aliases.models import MobileAlias
from wangyin.clearing.directory import seed_directory
from wangyin.config import Settings
from wangyin.fraud.service import seed_demo as fraud_seed_demo
from wangyin.gateways.clearing.simulator import seed_demo_accounts
from wangyin.identity.models import Customer, User
from wangyin.identity.passwords import hash_password
from wangyin.identity.validators import id_check_digit
from wangyin.ids import new_public_id
from wangyin.ledger import service as ledger
from wangyin.risk.service import seed_demo as risk_seed_demo

DEMO_PASSWORD = "Wangyin@2026"  # noqa: S105 - printed for the demo on purpose
DEMO_PIN = "147258"  # the demo customers' transaction password, printed too


class SeedRefused(Exception):
    """The demo bank is not loaded here (a production environment)."""


def refuse_production(settings: Settings) -> None:
    """The demo's passwords are published (README, `make demo`): loading its customers
    into a production database opens them to anyone (issue 11 #10)."""
    if settings.env == "prod":
        raise SeedRefused(
            "seed-demo refuses WANGYIN_ENV=prod: the demo customers' passwords are "
            "published, so they never go into a production database"
        )


@dataclass(frozen=True)
class DemoLogin:
    username: str
    password: str
    name: str
    edition: str


@dataclass(frozen=True)
class DemoPerson:
    name: str
    id17: str
    mobile: str
    username: str | None
    edition: str
    # (kind, currency, opening balance minor[, account class]); a class II or III account
    # is bound to the person's first (class I) account.
    accounts: tuple[tuple[Any, ...], ...]

    @property
    def id_number(self) -> str:
        return self.id17 + id_check_digit(self.id17)


PEOPLE = (
    DemoPerson(
        "张伟",
        "45030219850612123",
        "13812345678",
        "zhangwei",
        "professional",
        (
            ("current", "CNY", 86_000_00),
            ("savings", "CNY", 200_000_00),
            ("current", "USD", 12_000_00),
            # One of each personal account class (银发〔2018〕16号).
            ("current", "CNY", 6_000_00, "II"),
            ("current", "CNY", 1_200_00, "III"),
        ),
    ),
    DemoPerson(
        "李娜",
        "11010519900315234",
        "13987654321",
        "lina",
        "professional",
        (("current", "CNY", 42_000_00), ("current", "USD", 3_500_00)),
    ),
    DemoPerson(
        "王芳",
        "31011519781120345",
        "13700001111",
        "wangfang",
        "public",
        (("current", "CNY", 15_000_00),),
    ),
    # Known to the bank but not yet registered for online banking: for the sign-up demo.
    DemoPerson(
        "陈静", "44030419951008456", "13600002222", None, "public", (("current", "CNY", 8_000_00),)
    ),
)

MERCHANTS = (
    ("美团外卖", "餐饮", 25_00, 120_00),
    ("盒马鲜生", "超市", 80_00, 460_00),
    ("国家电网", "电费", 120_00, 380_00),
    ("中国移动", "话费", 50_00, 200_00),
    ("滴滴出行", "交通", 15_00, 90_00),
    ("京东商城", "购物", 60_00, 1_800_00),
)


def _cash_in(
    session: Session, account: Account, amount: int, memo: str, who: str, at: datetime
) -> None:
    clearing = ledger.internal_account(
        session, purpose="CLEARING", currency=account.currency, at=at
    )
    ledger.post(
        session,
        kind="deposit",
        at=at,
        description=memo,
        legs=[
            ledger.Leg(clearing.id, -amount, account.currency, memo=memo),
            ledger.Leg(
                account.ledger_account_id,
                amount,
                account.currency,
                memo=memo,
                counterparty_name=who,
            ),
        ],
    )


def _pay_out(
    session: Session, account: Account, amount: int, memo: str, who: str, at: datetime
) -> None:
    clearing = ledger.internal_account(
        session, purpose="CLEARING", currency=account.currency, at=at
    )
    ledger.post(
        session,
        kind="payment",
        at=at,
        description=memo,
        legs=[
            ledger.Leg(
                account.ledger_account_id,
                -amount,
                account.currency,
                memo=memo,
                counterparty_name=who,
            ),
            ledger.Leg(clearing.id, amount, account.currency, memo=memo),
        ],
    )


# Back-office staff of every role (issue 7), their authenticators already enrolled with
# these published secrets: demo only, printed by `make demo` with the password.
DEMO_STAFF_PASSWORD = "Houtai@2026"  # noqa: S105 - printed for the demo on purpose


@dataclass(frozen=True)
class DemoStaff:
    username: str
    name: str
    role: str
    totp_secret: str


STAFF = (
    DemoStaff("teller", "柜员 王小明", "teller", "IH5KTFMIYBZ7646WI5XGXVFTW7IYWA3U"),
    DemoStaff("supervisor", "主管 李建国", "supervisor", "KFQZTQ2KCTJFMH3QRNJHOOTAREGL5YSL"),
    DemoStaff("risk", "风控 赵敏", "risk_officer", "3KYFRI3ECNBRGUGYRLAEJVANTQQHKYOZ"),
    DemoStaff("service", "客服 孙丽", "service_agent", "EN2RIHQOK7SWXXDG5Y4OEQSFOVLG55K3"),
    DemoStaff("auditor", "审计 周平", "auditor", "RL5DOT2ZEE4TJVSDOT5TE5ACY3ZKGFF4"),
    DemoStaff("admin", "管理员 吴刚", "administrator", "ACBNWZVMN6XI5ZRUDRHWT4MUF7JQLI5X"),
)


def seed_staff(session: Session, *, now: datetime) -> None:
    """The demo's staff, enrolled (their secrets are the published ones above)."""
    from wangyin.backoffice import totp
    from wangyin.backoffice.models import StaffUser

    password_hash = hash_password(DEMO_STAFF_PASSWORD)
    for member in STAFF:
        public_id = new_public_id()
        session.add(
            StaffUser(
                public_id=public_id,
                username=member.username,
                name=member.name,
                role=member.role,
                status="active",
                password_hash=password_hash,
                totp_secret=totp.seal(member.totp_secret, staff_public_id=public_id),
                totp_enrolled_at=now,
                totp_last_step=0,
                failed_logins=0,
                created_at=now,
            )
        )


def seed_demo(session: Session, *, now: datetime, seed: int = 2026) -> list[DemoLogin] | None:
    """Load the demo bank once; returns None when it is already there."""
    if session.scalars(select(Customer.id).limit(1)).first() is not None:
        return None
    rng = random.Random(seed)  # noqa: S311 - reproducible demo data, not security
    start = now - timedelta(days=92)
    logins: list[DemoLogin] = []
    for person in PEOPLE:
        customer = Customer(
            public_id=new_public_id(),
            name=person.name,
            id_number=person.id_number,
            mobile=person.mobile,
            created_at=start,
        )
        session.add(customer)
        session.flush()
        first: Account | None = None
        for index, (kind, currency, opening, *classed) in enumerate(person.accounts):
            account_class = classed[0] if classed else "I"
            account = accounts.open_account(
                session,
                customer_id=customer.id,
                kind=kind,
                currency=currency,
                at=start,
                nickname={
                    "I": {"current": "活期", "savings": "储蓄"}[kind],
                    "II": "Ⅱ类户",
                    "III": "Ⅲ类户",
                }[account_class],
                account_class=account_class,
                bound_account_id=None if account_class == "I" or first is None else first.id,
            )
            if index == 0:
                first = account
                accounts.issue_card(session, account=account, at=start)
            _cash_in(session, account, opening, "开户存入", "柜面现金", start)
            if index == 0 and currency == "CNY" and kind == "current":
                _history(session, rng, account, start, now)
        if person.username == "lina" and first is not None:
            # 李娜 receives by mobile number (手机号转账): 张伟 can pay 13987654321.
            session.add(
                MobileAlias(
                    public_id=new_public_id(),
                    customer_id=customer.id,
                    mobile_hash=customer.mobile_hash,
                    account_id=first.id,
                    created_at=start,
                )
            )
        if person.username:
            session.add(
                User(
                    public_id=new_public_id(),
                    customer_id=customer.id,
                    username=person.username,
                    password_hash=hash_password(DEMO_PASSWORD),
                    transaction_pin_hash=hash_password(DEMO_PIN),
                    edition=person.edition,
                    status="active",
                    created_at=start,
                    password_changed_at=start,
                    upgraded_at=start if person.edition == "professional" else None,
                )
            )
            logins.append(DemoLogin(person.username, DEMO_PASSWORD, person.name, person.edition))
    seed_staff(session, now=now)
    risk_seed_demo(session, now=now)  # a few blacklist entries and open cases
    fraud_seed_demo(session, now=now)  # a held transfer with its fraud_hold case
    # The bank directory (reference data) and the simulated network's other-bank accounts.
    seed_directory(session)
    seed_demo_accounts(session)
    session.flush()
    return logins


def _history(
    session: Session, rng: random.Random, account: Account, start: datetime, now: datetime
) -> None:
    day = start + timedelta(days=1)
    while day < now - timedelta(hours=1):
        at = day.replace(
            hour=rng.randint(1, 13), minute=rng.randint(0, 59), second=0, microsecond=0
        )
        if day.day == 10:
            _cash_in(
                session, account, rng.randint(12_000_00, 18_000_00), "工资", "某某科技有限公司", at
            )
        if day.day == 5:
            _pay_out(session, account, 4_500_00, "房租", "链家租房", at)
        if rng.random() < 0.6:
            merchant, memo, low, high = rng.choice(MERCHANTS)
            _pay_out(session, account, rng.randint(low, high), memo, merchant, at)
        day += timedelta(days=1)


def describe_unregistered() -> dict[str, str]:
    """What a visitor types on the registration page to sign up the unregistered demo customer."""
    person = PEOPLE[-1]
    return {"name": person.name, "id_number": person.id_number, "mobile": person.mobile}
