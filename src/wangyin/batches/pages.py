"""HTML pages of batch transfers, under /transfer (the transaction password's channel
opens only for the session there): upload a file or type lines -> preview with every
line's error, count and total -> one confirmation -> results, with a result file."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import UploadFile

from wangyin.accounts import service as accounts
from wangyin.batches import actions
from wangyin.batches import service as batches
from wangyin.batches.api import XLSX, attachment
from wangyin.batches.service import LineIn
from wangyin.errors import DomainError
from wangyin.identity.service import CurrentUser
from wangyin.ids import new_token
from wangyin.runtime import AppState
from wangyin.schedules.pages import form_caller
from wangyin.uow import run_read
from wangyin.web.context import PageUser, State, check_form_csrf, client_of, lang
from wangyin.web.forms import error_text, form_data, send_code_form
from wangyin.web.render import render

router = APIRouter()
BASE = "/transfer/batches"


def _list_page(
    request: Request,
    state: AppState,
    user: CurrentUser,
    *,
    error: str = "",
    typed: str = "",
    status: int = 200,
) -> Response:
    own = run_read(state.db, lambda s: accounts.list_accounts(s, customer_id=user.customer_id))
    return render(
        request,
        "batches/list.html",
        {
            "user": user,
            "csrf_token": user.csrf_token,
            "accounts": [a for a in own if a.status == "active"],
            "batches": actions.list_batches(state=state, user=user, lang=lang(request)),
            "error": error,
            "typed": typed,
            "max_lines": batches.MAX_LINES,
        },
        status=status,
    )


@router.get(BASE)
def batch_list(request: Request, user: PageUser, state: State) -> Response:
    return _list_page(request, state, user)


@router.get(f"{BASE}/template.xlsx")
def template_xlsx(_user: PageUser) -> Response:
    return attachment(batches.template_xlsx(), media_type=XLSX, filename="batch-template.xlsx")


@router.get(f"{BASE}/template.csv")
def template_csv(_user: PageUser) -> Response:
    return attachment(
        batches.template_csv(), media_type="text/csv; charset=utf-8", filename="batch-template.csv"
    )


@router.post(f"{BASE}/upload")
async def upload(request: Request, user: PageUser, state: State) -> Response:
    form = await request.form()
    try:
        check_form_csrf(request, str(form.get("csrf_token", "")), user)
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise DomainError("batch_empty")
        data = await upload.read(batches.MAX_FILE_BYTES + 1)
        view = actions.create(
            state=state,
            user=user,
            client=client_of(request, "web"),
            from_account_id=str(form.get("from_account_id", ""))[:40],
            data=data,
            filename=(upload.filename or "")[:100],
        )
    except DomainError as exc:
        return _list_page(request, state, user, error=error_text(request, exc), status=exc.status)
    finally:
        await form.close()
    return RedirectResponse(f"{BASE}/{view['id']}", status_code=303)


def _typed_lines(text: str) -> list[LineIn]:
    """One line per transfer: account, name, amount[, remark] (commas, or tabs as pasted
    from a spreadsheet; a Chinese comma too)."""
    lines = []
    for raw in text.splitlines():
        if not raw.strip():
            continue
        sep = "\t" if "\t" in raw else ("," if "," in raw else "，")
        cells = [c.strip() for c in raw.split(sep, 3)] + ["", "", "", ""]
        lines.append(LineIn(cells[0], cells[1], cells[2], cells[3]))
    return lines


@router.post(BASE)
async def create(request: Request, user: PageUser, state: State) -> Response:
    # Not `form_data`: the lines are many, with newlines and tabs (pasted from a
    # spreadsheet); each cell is checked for control characters when it is validated.
    form = await request.form()
    typed = str(form.get("lines", ""))[:400_000]
    try:
        check_form_csrf(request, str(form.get("csrf_token", "")), user)
        view = actions.create(
            state=state,
            user=user,
            client=client_of(request, "web"),
            from_account_id=str(form.get("from_account_id", ""))[:40],
            lines=_typed_lines(typed),
        )
    except DomainError as exc:
        return _list_page(
            request, state, user, error=error_text(request, exc), typed=typed, status=exc.status
        )
    return RedirectResponse(f"{BASE}/{view['id']}", status_code=303)


def _detail_page(
    request: Request,
    state: AppState,
    user: CurrentUser,
    batch_id: str,
    *,
    error: str = "",
    sent: str = "",
    status: int = 200,
) -> Response:
    view = actions.get_batch(state=state, user=user, batch_id=batch_id, lang=lang(request))
    return render(
        request,
        "batches/detail.html",
        {
            "user": user,
            "csrf_token": user.csrf_token,
            "b": view,
            "error": error,
            "sent": sent,
            "idempotency_key": new_token(),
        },
        status=status,
    )


@router.get(BASE + "/{batch_id}")
def detail(batch_id: str, request: Request, user: PageUser, state: State) -> Response:
    sent = request.query_params.get("sent", "")
    return _detail_page(
        request, state, user, batch_id, sent=sent if sent in ("sms", "voice") else ""
    )


@router.get(BASE + "/{batch_id}/result.csv")
def result_file(batch_id: str, request: Request, user: PageUser, state: State) -> Response:
    data = actions.result_file(state=state, user=user, batch_id=batch_id, lang=lang(request))
    return attachment(
        data, media_type="text/csv; charset=utf-8", filename=f"batch-{batch_id[:36]}.csv"
    )


@router.post(BASE + "/{batch_id}/code")
async def send_code(batch_id: str, request: Request, user: PageUser, state: State) -> Response:
    return await send_code_form(
        request,
        user,
        send=lambda channel: actions.send_code(
            state=state,
            user=user,
            batch_id=batch_id,
            channel=channel,
            client=client_of(request, "web"),
        ),
        not_found="batch_not_found",
        refused=lambda exc: _detail_page(
            request, state, user, batch_id, error=error_text(request, exc), status=exc.status
        ),
        sent_to=f"{BASE}/{batch_id}",
    )


@router.post(BASE + "/{batch_id}/confirm")
async def confirm(batch_id: str, request: Request, user: PageUser, state: State) -> Response:
    form = await form_data(request)
    try:
        check_form_csrf(request, form.get("csrf_token", ""), user)
        actions.confirm(
            state=state,
            caller=form_caller(request, form),
            key=form.get("idempotency_key", ""),
            batch_id=batch_id,
            key_digest=(form.get("key_digest") or "")[:64] or None,
            transaction_password=form.get("transaction_password") or None,
            code=form.get("code") or None,
        )
    except DomainError as exc:
        if exc.code == "batch_not_found":
            raise
        return _detail_page(
            request, state, user, batch_id, error=error_text(request, exc), status=exc.status
        )
    return RedirectResponse(f"{BASE}/{batch_id}", status_code=303)


@router.post(BASE + "/{batch_id}/cancel")
async def cancel(batch_id: str, request: Request, user: PageUser, state: State) -> Response:
    form = await form_data(request)
    try:
        check_form_csrf(request, form.get("csrf_token", ""), user)
        actions.cancel(state=state, user=user, client=client_of(request, "web"), batch_id=batch_id)
    except DomainError as exc:
        if exc.code == "batch_not_found":
            raise
        return _detail_page(
            request, state, user, batch_id, error=error_text(request, exc), status=exc.status
        )
    return RedirectResponse(BASE, status_code=303)
