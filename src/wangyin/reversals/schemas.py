"""Reversals' JSON shapes."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from wangyin.risk.schemas import At, CaseIn


class CaseTransferIn(CaseIn):
    """One of the case customer's transfers and why (the maker's reason)."""

    transfer_id: str = Field(min_length=1, max_length=36)
    reason: str = Field(min_length=4, max_length=300)


class TransferChoiceOut(BaseModel):
    kind: str  # intrabank | interbank
    id: str
    at: At
    amount: str
    currency: str
    payee: str  # masked
    to_account: str  # masked
    status: str
    reversed_at: datetime | None = None
    recall_status: str = ""  # requested | agreed | refused
    recall_reason: str = ""  # the receiving bank's reason for a refusal
    reversible: bool
    recallable: bool


class ReversalOut(BaseModel):
    """What the customer sees of the bank's reversal of their transfer."""

    transfer_id: str
    reversed: bool
    reversed_at: At | None = None
