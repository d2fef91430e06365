"""Customers, users, accounts and money, built with the bank's own services.

Password hashes are Argon2id (~30 ms each), so users made with the default password share
one hash computed once per process.

Every factory user has a bound phone (`device_of(username)` is the name it gives itself,
`credential_of(username)` the credential the bank issued for it, `device_headers` both as
an app sends them). A login from that phone replaces its credential (identity.devices):
`track_devices(client)` follows those replacements on a TestClient, so a test logs in
from the phone again and again as the phone itself would.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from http.cookies import CookieError, SimpleCookie
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from wangyin.accounts import service as accounts
from wangyin.accounts.models import Account, Card
from wangyin.identity import devices
from wangyin.identity.models import Customer, User
from wangyin.identity.passwords import hash_password
from wangyin.identity.validators import id_check_digit
from wangyin.ids import new_public_id
from wangyin.ledger import service as ledger
from wangyin.ledger.models import LedgerAccount

DEFAULT_PASSWORD = "Qiang-Mima-42"
DEFAULT_PIN = "258147"  # every factory user's transaction password

_serial = itertools.count(1)
_SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平"


@cache
def _default_hash() -> str:
    return hash_password(DEFAULT_PASSWORD)


@cache
def _default_pin_hash() -> str:
    return hash_password(DEFAULT_PIN)


def device_of(username: str) -> str:
    """The device id (X-Device-Id) a factory user's bound phone sends: a name, which binds
    nothing by itself."""
    return f"device-{username}"


# username -> the current credential of the factory user's bound phone (this process).
_CREDENTIALS: dict[str, str] = {}


def credential_of(username: str) -> str:
    """The current credential of the factory user's bound phone."""
    return _CREDENTIALS[username]


def device_headers(username: str) -> dict[str, str]:
    """What the factory user's bound phone sends with a login (a login name that is no
    factory user's - a mobile number, nobody's - has no phone: its name only)."""
    headers = {"X-Device-Id": device_of(username)}
    if username in _CREDENTIALS:
        headers["X-Device-Credential"] = _CREDENTIALS[username]
    return headers


def replaced_credential(old: str, new: str) -> None:
    """The bank replaced `old` by `new`: the phone (or browser) keeps the new one."""
    for username, current in list(_CREDENTIALS.items()):
        if current == old:
            _CREDENTIALS[username] = new


def _cookie(header: str, name: str) -> str | None:
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(header)
    except CookieError:  # a cookie we cannot read is not ours
        return None
    return jar[name].value if name in jar else None


def _follow_credentials(response: Any) -> None:
    """A TestClient response hook: when a login answers a new credential for the one the
    request presented, the phone or browser that holds it keeps the new one."""
    request = response.request
    if request.url.path.startswith("/api/"):
        old = request.headers.get("x-device-credential")
        if not old or "json" not in response.headers.get("content-type", ""):
            return
        response.read()
        try:
            new = json.loads(response.content).get("device_credential")
        except (ValueError, AttributeError):
            return
    else:
        old = _cookie(request.headers.get("cookie", ""), "wy_device")
        new = None
        for header in response.headers.get_list("set-cookie"):
            new = _cookie(header, "wy_device") or new
    if old and new and new != old:
        replaced_credential(old, new)


def track_devices(client: Any) -> Any:
    """Follow the bound phones' credential replacements on this TestClient (see above)."""
    hooks = dict(client.event_hooks)
    hooks["response"] = [*hooks.get("response", []), _follow_credentials]
    client.event_hooks = hooks
    return client


def new_id_number(birth: str = "19880808") -> str:
    """A valid GB 11643 ID number (region 110105, the given birth date, a unique serial)."""
    n = next(_serial)
    first17 = f"110105{birth}{n % 1000:03d}"
    return first17 + id_check_digit(first17)


def new_mobile() -> str:
    return f"139{next(_serial) % 10**8:08d}"


def _new_name() -> str:
    n = next(_serial)
    return _SURNAMES[n % len(_SURNAMES)] + _GIVEN[(n // len(_SURNAMES)) % len(_GIVEN)] + "测"


def make_customer(
    session: Session,
    *,
    at: datetime,
    name: str | None = None,
    id_number: str | None = None,
    mobile: str | None = None,
) -> Customer:
    customer = Customer(
        public_id=new_public_id(),
        name=name or _new_name(),
        id_number=id_number or new_id_number(),
        mobile=mobile or new_mobile(),
        created_at=at,
    )
    session.add(customer)
    session.flush()
    return customer


def make_user(
    session: Session,
    customer: Customer,
    *,
    at: datetime,
    username: str | None = None,
    password: str = DEFAULT_PASSWORD,
    edition: str = "professional",
) -> User:
    user = User(
        public_id=new_public_id(),
        customer_id=customer.id,
        username=username or f"user{next(_serial)}",
        password_hash=_default_hash() if password == DEFAULT_PASSWORD else hash_password(password),
        transaction_pin_hash=_default_pin_hash(),
        edition=edition,
        status="active",
        created_at=at,
        password_changed_at=at,
        upgraded_at=at if edition == "professional" else None,
    )
    session.add(user)
    session.flush()
    _, credential = devices.bind(
        session, user_id=user.id, name=device_of(user.username), label="factory phone", at=at
    )
    _CREDENTIALS[user.username] = credential
    return user


def fund(session: Session, account: Account, amount_minor: int, *, at: datetime) -> None:
    """A cash deposit at the counter: the bank's clearing account pays the customer's."""
    clearing = ledger.internal_account(
        session, purpose="CLEARING", currency=account.currency, at=at
    )
    ledger.post(
        session,
        kind="deposit",
        at=at,
        description="开户存入",
        legs=[
            ledger.Leg(clearing.id, -amount_minor, account.currency, memo="开户存入"),
            ledger.Leg(
                account.ledger_account_id,
                amount_minor,
                account.currency,
                memo="开户存入",
                counterparty_name="柜面现金",
            ),
        ],
    )


def make_account(
    session: Session,
    customer: Customer,
    *,
    at: datetime,
    currency: str = "CNY",
    balance_minor: int = 0,
    kind: str = "current",
    with_card: bool = False,
) -> Account:
    account = accounts.open_account(
        session, customer_id=customer.id, kind=kind, currency=currency, at=at
    )
    if with_card:
        accounts.issue_card(session, account=account, at=at)
    if balance_minor:
        fund(session, account, balance_minor, at=at)
    return account


def card_of(session: Session, account: Account) -> Card:
    card = session.scalars(select(Card).where(Card.account_id == account.id)).first()
    assert card is not None
    return card


def balance(session: Session, account: Account) -> int:
    la = session.get(LedgerAccount, account.ledger_account_id, populate_existing=True)
    assert la is not None
    return la.balance_minor


def available(session: Session, account: Account) -> int:
    la = session.get(LedgerAccount, account.ledger_account_id, populate_existing=True)
    assert la is not None
    return la.available_minor


def customer_total(session: Session) -> int:
    """Sum of every customer account's balance (all currencies lumped: tests use one)."""
    total = session.scalar(
        select(func.coalesce(func.sum(LedgerAccount.balance_minor), 0)).where(
            LedgerAccount.kind == "customer"
        )
    )
    return int(total or 0)


@dataclass
class Person:
    """A customer with an online-banking user and one funded CNY account (with a card)."""

    customer: Customer
    user: User
    account: Account
    card_number: str

    @property
    def name(self) -> str:
        return self.customer.name

    @property
    def username(self) -> str:
        return self.user.username


def make_person(
    session: Session,
    *,
    at: datetime,
    balance_minor: int = 10_000_00,
    edition: str = "professional",
    name: str | None = None,
    username: str | None = None,
) -> Person:
    customer = make_customer(session, at=at, name=name)
    user = make_user(session, customer, at=at, edition=edition, username=username)
    account = make_account(session, customer, at=at, balance_minor=balance_minor, with_card=True)
    return Person(customer, user, account, card_of(session, account).number)
