"""Request and response bodies of the fraud API (/api/admin/v1/fraud)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class DecideIn(BaseModel):
    reason: str = Field(min_length=1, max_length=300)


class HoldOut(BaseModel):
    transfer_id: str
    status: str  # HELD | RELEASED | REFUSED
    customer_id: str  # the customer's public id
    amount: str
    currency: str
    payee_tail: str
    rules: list[str]
    points: int
    score: int | None
    rules_version: int
    case_id: int | None
    created_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    reason: str
    transfer_status: str


class RulesIn(BaseModel):
    # rule -> {key: value}; only the keys to change (the rest keep the active version's).
    params: dict[str, dict[str, Any]]
    reason: str = Field(min_length=1, max_length=300)


class RuleSetOut(BaseModel):
    version: int
    active: bool
    created_at: datetime | None


class RulesOut(BaseModel):
    active_version: int
    params: dict[str, dict[str, Any]]
    versions: list[RuleSetOut]
    pending_commands: list[str]


class CommandOut(BaseModel):
    id: str
    kind: str
    status: str


class StatsOut(BaseModel):
    since_days: int
    total: int
    rule_hits: dict[str, int]
    decisions: dict[str, int]
    scores: dict[str, int]  # bucket "0-9" .. "90-99" -> decisions with that score
