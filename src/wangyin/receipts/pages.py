"""Pages of receipts: the PDF from a transfer's result page, and the bank's public page
where anyone checks a receipt."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from wangyin.errors import DomainError
from wangyin.receipts import actions
from wangyin.receipts.api import pdf_response
from wangyin.web.context import PageUser, State, client_ip
from wangyin.web.forms import error_text
from wangyin.web.render import render

router = APIRouter()


@router.get("/transfer/{transfer_id}/receipt.pdf")
def receipt_pdf(transfer_id: str, request: Request, user: PageUser, state: State) -> Response:
    return pdf_response(actions.receipt(state=state, user=user, transfer_id=transfer_id), request)


@router.get("/receipts/verify")
def verify_page(
    request: Request,
    state: State,
    reference: Annotated[str, Query(max_length=40)] = "",
    code: Annotated[str, Query(max_length=40)] = "",
) -> Response:
    """A GET form: checking changes nothing (but is counted per client)."""
    found, error, status = None, "", 200
    if reference or code:
        try:
            found = actions.verify(
                state=state, ip=client_ip(request), reference=reference, code=code
            )
        except DomainError as exc:
            error, status = error_text(request, exc), exc.status
    return render(
        request,
        "receipts/verify.html",
        {"found": found, "error": error, "reference": reference, "code": code},
        status=status,
    )
