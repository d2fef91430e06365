from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


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
