from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class AccountOut(BaseModel):
    id: str
    account_number: str
    card_number: str | None
    kind: str
    currency: str
    status: str
    nickname: str
    balance: str
    available_balance: str
    account_class: str = Field(
        default="I",
        description="Personal account class: I, II or III (II/III limited with other accounts)",
    )


class CurrencyTotal(BaseModel):
    currency: str
    balance: str


class OverviewOut(BaseModel):
    accounts: list[AccountOut]
    totals: list[CurrencyTotal]


class HistoryLineOut(BaseModel):
    id: str
    booked_at: datetime
    direction: str
    amount: str
    currency: str
    balance_after: str
    counterparty_name: str
    counterparty_account: str
    memo: str
    kind: str


class HistoryPageOut(BaseModel):
    lines: list[HistoryLineOut]
    next_cursor: str | None
