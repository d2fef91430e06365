"""The risk officers' anti-fraud pages under /admin/fraud (thin: parse, authorize through
the back office's permission table, one action, render): held transfers and their
decision, the rule set and its proposals, the statistics (4.4-c3)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from wangyin.backoffice.context import Staff
from wangyin.backoffice.pages import _page, refused
from wangyin.errors import DomainError
from wangyin.fraud import actions, charts
from wangyin.fraud import commands as _commands  # noqa: F401 - registers fraud_rules
from wangyin.fraud.rules import DEFAULTS
from wangyin.web.context import State, client_of
from wangyin.web.forms import form_data

router = APIRouter(prefix="/admin/fraud")

STATUSES = ("HELD", "RELEASED", "REFUSED")


@router.get("/holds")
def holds(staff: Staff, request: Request, state: State, status: str = "HELD") -> Response:
    chosen = status if status in STATUSES else "HELD"
    listed = actions.holds(state=state, status=chosen)
    return _page(request, "fraud/holds.html", staff, holds=listed, chosen=chosen, statuses=STATUSES)


@router.get("/holds/{transfer_id}")
def hold(transfer_id: str, staff: Staff, request: Request, state: State) -> Response:
    try:
        found = actions.hold(state=state, transfer_id=transfer_id)
    except DomainError as exc:
        return refused(request, exc)
    return _page(request, "fraud/hold.html", staff, v=found)


async def _decide(
    request: Request, state: State, staff: Any, transfer_id: str, what: str
) -> Response:
    form = await form_data(request)
    decide = actions.release if what == "release" else actions.refuse
    try:
        await run_in_threadpool(
            lambda: decide(
                state=state,
                staff=staff,
                transfer_id=transfer_id,
                reason=form.get("reason", ""),
                client=client_of(request, "admin"),
            )
        )
    except DomainError as exc:
        return refused(request, exc)
    return RedirectResponse(f"/admin/fraud/holds/{transfer_id}", status_code=303)


@router.post("/holds/{transfer_id}/release")
async def release(transfer_id: str, staff: Staff, request: Request, state: State) -> Response:
    return await _decide(request, state, staff, transfer_id, "release")


@router.post("/holds/{transfer_id}/refuse")
async def refuse(transfer_id: str, staff: Staff, request: Request, state: State) -> Response:
    return await _decide(request, state, staff, transfer_id, "refuse")


def _editable() -> list[tuple[str, str, Any]]:
    """(rule, key, default) for every parameter a form can change (not `action`)."""
    return [
        (rule, key, default)
        for rule, values in DEFAULTS.items()
        for key, default in values.items()
        if key != "action"
    ]


@router.get("/rules")
def rules(staff: Staff, request: Request, state: State) -> Response:
    version, params, versions, pending = actions.rules(state=state)
    return _page(
        request,
        "fraud/rules.html",
        staff,
        version=version,
        params=params,
        versions=versions,
        pending=pending,
        fields=_editable(),
    )


@router.post("/rules")
async def propose_rules(staff: Staff, request: Request, state: State) -> Response:
    """Every parameter of the form; only those that differ from the active version go
    into the proposal."""
    form = await form_data(request)
    current = await run_in_threadpool(lambda: actions.rules(state=state)[1])
    changes: dict[str, dict[str, Any]] = {}
    try:
        for rule, key, default in _editable():
            name = f"{rule}.{key}"
            if isinstance(default, bool):
                value: Any = form.get(name) == "on"
            else:
                try:
                    value = int(form.get(name, ""))
                except ValueError:
                    raise DomainError("rules_invalid", detail=name) from None
            if value != current[rule][key]:
                changes.setdefault(rule, {})[key] = value
        if not changes:
            raise DomainError("rules_invalid", detail="no change")
        await run_in_threadpool(
            lambda: actions.propose_rules(
                state=state,
                staff=staff,
                client=client_of(request, "admin"),
                params=changes,
                reason=form.get("reason", ""),
            )
        )
    except DomainError as exc:
        return refused(request, exc)
    return RedirectResponse("/admin/fraud/rules", status_code=303)


@router.get("/stats")
def stats(staff: Staff, request: Request, state: State, days: int = 30) -> Response:
    days = max(1, min(days, 366))
    found = actions.statistics(state=state, days=days)
    return _page(
        request,
        "fraud/stats.html",
        staff,
        found=found,
        days=days,
        chart=charts.score_chart(found.scores),
    )
