"""The IBPS simulator's directory of mobile aliases registered at other banks (超级网银
手机号转账), and the reference tokens it hands to a paying bank instead of the account.

A token is 34 digits (it travels where an account number does): `98`, the alias row (8),
its expiry in minutes since 2020 (8), and 16 digits of an HMAC under the alias's own key.
It resolves only while the alias exists with that key and before its expiry, so a token
neither names the account nor outlives the payment it was given for.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import DateTime, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from wangyin.clock import as_utc
from wangyin.db import Base, BigIntPK
from wangyin.security.fields import lookup_hash
from wangyin.security.masking import mask_name

REFERENCE_PREFIX = "98"
TOKEN_VALID = timedelta(hours=24)
_EPOCH = datetime(2020, 1, 1, tzinfo=UTC)


class SimulatedAlias(Base):
    """A mobile number registered as a payee alias at another bank (the network's book)."""

    __tablename__ = "cnaps_sim_aliases"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    mobile_hash: Mapped[str] = mapped_column(String(64), unique=True)
    bank_code: Mapped[str] = mapped_column(String(12))  # the receiving bank's 12-digit code
    account: Mapped[str] = mapped_column(String(34))
    name: Mapped[str] = mapped_column(String(60))
    token_key: Mapped[str] = mapped_column(String(64))  # signs this alias's tokens
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


@dataclass(frozen=True)
class Resolved:
    bank_code: str
    account: str
    name: str


def name_matches(full_name: str, typed: str) -> bool:
    """The payer confirms the surname or the given name (or the whole name)."""
    typed = "".join(typed.split())
    name = "".join(full_name.split())
    if not typed or not name:
        return False
    return typed in (name, name[:1], name[1:]) or (len(name) > 3 and typed in (name[:2], name[2:]))


def _mac(alias: SimulatedAlias, body: str) -> str:
    digest = hmac.new(alias.token_key.encode(), body.encode(), hashlib.sha256).hexdigest()
    return f"{int(digest[:16], 16) % 10**16:016d}"


def make_token(alias: SimulatedAlias, *, now: datetime) -> str:
    expires = int((as_utc(now) + TOKEN_VALID - _EPOCH) // timedelta(minutes=1))
    body = f"{REFERENCE_PREFIX}{alias.id:08d}{expires:08d}"
    return body + _mac(alias, body)


def is_token(value: str) -> bool:
    return len(value) == 34 and value.isdigit() and value.startswith(REFERENCE_PREFIX)


def resolve_token(session: Session, token: str, *, now: datetime) -> Resolved | None:
    """The account and name behind a token still valid; None otherwise."""
    if not is_token(token):
        return None
    alias = session.get(SimulatedAlias, int(token[2:10]))
    expires = _EPOCH + timedelta(minutes=int(token[10:18]))
    if alias is None or as_utc(now) >= expires:
        return None
    if not hmac.compare_digest(_mac(alias, token[:18]), token[18:]):
        return None
    return Resolved(bank_code=alias.bank_code, account=alias.account, name=alias.name)


def find(session: Session, mobile: str) -> SimulatedAlias | None:
    return session.scalars(
        select(SimulatedAlias).where(SimulatedAlias.mobile_hash == lookup_hash(mobile))
    ).first()


def masked(alias: SimulatedAlias) -> str:
    return mask_name(alias.name)


def add_alias(
    session: Session, *, mobile: str, bank_code: str, account: str, name: str, at: datetime
) -> SimulatedAlias:
    """A mobile alias another bank registered with the network (demo data, tests)."""
    alias = SimulatedAlias(
        mobile_hash=lookup_hash(mobile),
        bank_code=bank_code,
        account=account,
        name=name,
        token_key=secrets.token_hex(32),
        created_at=at,
    )
    session.add(alias)
    session.flush()
    return alias


# The demo's aliases at other banks (ICBC, CMB, Guilin Bank, Bank of China).
DEMO_ALIASES = (
    ("13900001111", "308584000013", "6225880000001111", "张大伟"),
    ("13900002222", "102100099996", "6222020000002222", "王芳"),
    ("13900003333", "313617000018", "6229090000003333", "陈思远"),
    ("13900004444", "104100000007", "6217850000004444", "欧阳明月"),
)


def seed_demo_aliases(session: Session, *, at: datetime) -> None:
    present = set(session.scalars(select(SimulatedAlias.mobile_hash)))
    for mobile, bank_code, account, name in DEMO_ALIASES:
        if lookup_hash(mobile) not in present:
            add_alias(
                session, mobile=mobile, bank_code=bank_code, account=account, name=name, at=at
            )
