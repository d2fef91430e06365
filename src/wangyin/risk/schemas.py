"""Request and response bodies of the risk API (/api/admin/v1/risk)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from wangyin.clock import as_utc

# A time read back from the database (SQLite gives it without its zone) answered in UTC.
At = Annotated[datetime, AfterValidator(as_utc)]


class BlacklistIn(BaseModel):
    kind: Literal["person", "card", "mobile", "device", "ip_range"]
    value: str = Field(min_length=1, max_length=64)
    reason: str = Field(min_length=1, max_length=300)
    expires_at: datetime | None = None


class BlacklistOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    kind: str
    masked: str  # numbers are never returned whole: only their hash is kept
    reason: str
    created_at: At
    expires_at: At | None
    live: bool = True


class CaseIn(BaseModel):
    case_id: int


class NoteIn(CaseIn):
    note: str = Field(min_length=1, max_length=1000)


Outcome = Literal[
    "resolved",
    "no_action_needed",
    "false_positive",
    "fraud_confirmed",
    "customer_unreachable",
    "referred_to_police",
]


class CloseIn(CaseIn):
    outcome: Outcome = Field(description="One of the fixed outcomes (service.OUTCOMES)")
    comment: str = Field(default="", max_length=1000)


class ContactIn(CaseIn):
    text: str = Field(min_length=1, max_length=1000, description="What the customer reads")


class FreezeIn(CaseIn):
    scope: Literal["transfers", "all"]
    reason: str = Field(min_length=4, max_length=200)


class ExpireIn(BaseModel):
    reason: str = Field(min_length=4, max_length=300)


class CommandOut(BaseModel):
    """A proposed back-office command: approve it at /api/admin/v1/commands/{id}/approve."""

    model_config = ConfigDict(from_attributes=True)
    public_id: str
    kind: str
    status: str
    created_at: At


class MessageOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    sender: str
    text: str
    at: At


class CaseDetailOut(BaseModel):
    case: CaseOut
    customer_id: str | None
    customer_name: str | None  # masked
    subject: str | None
    text: str | None
    transfer_id: str | None
    reference: str | None
    fraud_hold_url: str | None
    messages: list[MessageOut]
    commands: list[CommandOut]


class ComplaintIn(BaseModel):
    subject: str = Field(min_length=1, max_length=100)
    text: str = Field(min_length=1, max_length=2000)
    transfer_id: str | None = Field(
        default=None, max_length=36, description="One of your transfers it is about"
    )


class ComplaintOut(BaseModel):
    complaint_id: str
    subject: str
    status: Literal["received", "in_progress", "closed"]
    outcome: str | None
    transfer_id: str | None
    filed_at: At
    closed_at: At | None
    messages: list[MessageOut] = Field(default_factory=list)


class CaseOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    public_id: str | None
    kind: str
    priority: int
    status: str
    assignee: str | None
    outcome: str | None
    notes: str
    opened_at: At
    age_hours: float = 0
    sla_hours: int = 0
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
    assessed_at: At


class ReviewOut(BaseModel):
    assessment: AssessmentOut
    customer_id: str
    customer_name: str  # masked
    occupation: str | None
    product_use: str | None
    proposal: CommandOut | None


class TimelineOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    at: At
    event: str
    outcome: str
    ip: str
    device_id: str
    client: str
