"""Reversals' forms on a risk case's page (thin: parse, one action, back to the case).
The case page (risk/case.html) includes reversals/_case.html with the customer's
transfers (`actions.case_transfers`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from wangyin.backoffice.context import Staff
from wangyin.reversals import actions, commands
from wangyin.risk.pages import _do, _int
from wangyin.web.context import State, client_of
from wangyin.web.forms import form_data

router = APIRouter(prefix="/admin/risk/cases")


async def _propose(kind: str, staff: Staff, request: Request, state: State) -> Response:
    form = await form_data(request)
    case_id = _int(form.get("case_id", ""))

    def action(values: dict[str, Any]) -> Any:
        return actions.propose_from_case(
            state=state,
            kind=kind,
            staff=staff,
            client=client_of(request, "admin"),
            case_id=case_id,
            transfer_id=str(values.get("transfer_id", ""))[:36],
            reason=str(values.get("reason", "")),
        )

    return await _do(request, action, f"/admin/risk/cases/{case_id}")


@router.post("/reverse")
async def reverse(staff: Staff, request: Request, state: State) -> Response:
    return await _propose(commands.REVERSE_TRANSFER, staff, request, state)


@router.post("/recall")
async def recall(staff: Staff, request: Request, state: State) -> Response:
    return await _propose(commands.RECALL_INTERBANK, staff, request, state)
