"""The risk officers' case queue under /admin/risk (thin: parse, authorize through the
back office's permission table, one service call)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from wangyin.backoffice.context import Staff
from wangyin.backoffice.pages import _page, refused
from wangyin.errors import DomainError
from wangyin.risk import service as risk
from wangyin.uow import run_read, run_write
from wangyin.web.context import State
from wangyin.web.forms import form_data

router = APIRouter(prefix="/admin/risk")


@router.get("/cases")
def cases(staff: Staff, request: Request, state: State) -> Response:
    now = state.clock.now()

    def read(s: Any) -> list[dict[str, Any]]:
        rows = []
        for case in risk.list_cases(s):
            age = risk.age_hours(case, at=now)
            rows.append({"case": case, "age": age, "late": risk.sla_breached(case, age)})
        return rows

    listed = run_read(state.db, read)
    return _page(request, "risk/cases.html", staff, cases=listed)


async def _act(request: Request, state: State, staff: Any, what: str) -> Response:
    form = await form_data(request)
    now = state.clock.now()
    try:
        case_id = int(form.get("case_id", ""))
    except ValueError:
        return refused(request, DomainError("case_not_found"))

    def action(s: Any) -> None:
        if what == "assign":
            risk.assign_case(s, case_id=case_id, staff_id=staff.public_id, at=now)
        elif what == "note":
            risk.add_note(
                s, case_id=case_id, staff_id=staff.public_id, note=form.get("note", ""), at=now
            )
        else:
            risk.close_case(
                s,
                case_id=case_id,
                staff_id=staff.public_id,
                outcome=form.get("outcome", ""),
                at=now,
            )

    try:
        await run_in_threadpool(run_write, state.db, action)
    except DomainError as exc:
        return refused(request, exc)
    return RedirectResponse("/admin/risk/cases", status_code=303)


@router.post("/cases/assign")
async def assign(staff: Staff, request: Request, state: State) -> Response:
    return await _act(request, state, staff, "assign")


@router.post("/cases/note")
async def note(staff: Staff, request: Request, state: State) -> Response:
    return await _act(request, state, staff, "note")


@router.post("/cases/close")
async def close(staff: Staff, request: Request, state: State) -> Response:
    return await _act(request, state, staff, "close")
