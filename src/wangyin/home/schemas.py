"""JSON shapes of the home API."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from wangyin.text import Text


class RecentOut(BaseModel):
    id: str
    booked_at: str
    amount: str
    currency: str
    counterparty: str
    memo: str


class PayeeOut(BaseModel):
    id: str
    name: str
    number_tail: str
    transfers: int
    transfer_url: str


class FunctionOut(BaseModel):
    key: str
    title: str
    url: str


class SuggestionOut(BaseModel):
    kind: str = Field(description="transfer_again | schedule | security")
    title: str
    why: str = Field(description="The reason, in plain words, from the customer's history")
    url: str


class HomeOut(BaseModel):
    total_assets_cny: str
    unrated_currencies: list[str]
    month_income_cny: str
    month_spending_cny: str
    recent: list[RecentOut]
    transfer_again: list[PayeeOut]
    security_tips: list[str]
    amounts_hidden: bool
    quick_functions: list[FunctionOut]
    suggestions: list[SuggestionOut]


class QuickFunctionsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pinned: list[Annotated[Text, StringConstraints(max_length=40)]] = Field(
        max_length=50, description="Catalogue keys in the order shown; at most 8 are kept"
    )


class QuickFunctionsOut(BaseModel):
    pinned: list[FunctionOut]
    available: list[FunctionOut] = Field(description="Every function that can be pinned")
    max: int
    defaults: bool = Field(description="True: the customer never chose, the bank's defaults")


class PreferencesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amounts_hidden: bool


class PreferencesOut(BaseModel):
    amounts_hidden: bool
