"""JSON API of receipts: the payer's receipt (JSON and PDF) and the public check."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from wangyin.receipts import actions
from wangyin.receipts.pdf import render
from wangyin.text import Text
from wangyin.web.context import ApiUser, State, client_ip

router = APIRouter(tags=["receipts"])


class ReceiptVerifyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reference: Text = Field(min_length=1, max_length=40)
    code: Text = Field(min_length=1, max_length=40, description='As printed, "a1-XXXX-XXXX-XXXX"')


def verify_url(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/receipts/verify"


@router.get("/transfers/{transfer_id}/receipt")
def receipt(transfer_id: str, user: ApiUser, state: State) -> dict[str, Any]:
    """The receipt of a completed transfer: its reference and verification code."""
    found = actions.receipt(state=state, user=user, transfer_id=transfer_id)
    return {**asdict(found), "completed_at": found.completed_at.isoformat()}


@router.get("/transfers/{transfer_id}/receipt.pdf")
def receipt_pdf(transfer_id: str, request: Request, user: ApiUser, state: State) -> Response:
    found = actions.receipt(state=state, user=user, transfer_id=transfer_id)
    return pdf_response(found, request)


def pdf_response(found: Any, request: Request) -> Response:
    return Response(
        render(found, verify_url=verify_url(request)),
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="receipt-{found.reference}.pdf"',
            "Cache-Control": "no-store",
        },
    )


@router.post("/receipts/verify")
def verify(body: ReceiptVerifyIn, request: Request, state: State) -> dict[str, Any]:
    """Anyone may check a receipt with its reference and code (no login): the key data,
    masked, or 404 receipt_not_verified alike for an unknown reference and a wrong code."""
    return asdict(
        actions.verify(state=state, ip=client_ip(request), reference=body.reference, code=body.code)
    )
