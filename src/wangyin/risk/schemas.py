"""Request and response bodies of the risk API (/api/admin/v1/risk)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class BlacklistIn(BaseModel):
    kind: Literal["person", "card", "mobile", "device", "ip_range"]
    value: str = Field(min_length=1, max_length=64)
    reason: str = Field(min_length=1, max_length=300)
    expires_at: datetime | None = None


class BlacklistOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    kind: str
    cidr: str | None  # numbers are never returned: only their hash is kept
    reason: str
    created_at: datetime
    expires_at: datetime | None


class CaseIn(BaseModel):
    case_id: int


class NoteIn(CaseIn):
    note: str = Field(min_length=1, max_length=1000)


class CloseIn(CaseIn):
    outcome: str = Field(min_length=1, max_length=300)


class CaseOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    kind: str
    priority: int
    status: str
    assignee: str | None
    outcome: str | None
    notes: str
    opened_at: datetime
    age_hours: float = 0
    sla_breached: bool = False


class ReviewIn(BaseModel):
    assessment_id: int
    reason: str = Field(min_length=1, max_length=300)


class AssessmentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    level: str
    factors: str  # JSON: factor -> points
    review: str
    decided_by: str | None
    assessed_at: datetime


class TimelineOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    at: datetime
    event: str
    outcome: str
    ip: str
    device_id: str
    client: str
