"""JSON API of batch transfers (批量转账): upload a file (CSV or XLSX, the raw body) or send
lines -> preview with every line's error, count and total -> code -> ONE confirmation
(Idempotency-Key) -> the worker executes the lines -> results, and a result file."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response

from wangyin.batches import actions
from wangyin.batches import service as batches
from wangyin.batches.schemas import BatchCodeIn, BatchConfirmIn, BatchIn, BatchOut
from wangyin.batches.service import LineIn
from wangyin.errors import DomainError
from wangyin.payments.actions import Answer
from wangyin.payments.api import IdempotencyKey, opened_factors, respond
from wangyin.web.context import ApiUser, State, caller_of, client_of

router = APIRouter(tags=["batch transfers"])

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def attachment(data: bytes, *, media_type: str, filename: str) -> Response:
    return Response(
        data,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get("/batches/template.xlsx")
def template_xlsx(_user: ApiUser) -> Response:
    """The file to fill in: 收款账号, 收款人户名, 金额, 附言 (the account column is text)."""
    return attachment(batches.template_xlsx(), media_type=XLSX, filename="batch-template.xlsx")


@router.get("/batches/template.csv")
def template_csv(_user: ApiUser) -> Response:
    return attachment(
        batches.template_csv(), media_type="text/csv; charset=utf-8", filename="batch-template.csv"
    )


@router.post("/batches/upload", status_code=201, response_model=BatchOut)
async def upload(
    request: Request,
    user: ApiUser,
    state: State,
    from_account_id: Annotated[str, Query(min_length=1, max_length=40)],
    filename: Annotated[str, Header(alias="X-Filename", max_length=100)] = "",
) -> dict[str, Any]:
    """The file is the body (CSV in UTF-8, UTF-8 with BOM or GBK; or XLSX), at most 2 MB and
    5,000 lines; a larger one is refused before it is read whole."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > batches.MAX_FILE_BYTES:
        raise DomainError("batch_file_too_large", size="2 MB", lines=batches.MAX_LINES)
    data = b""
    async for chunk in request.stream():
        data += chunk
        if len(data) > batches.MAX_FILE_BYTES:
            raise DomainError("batch_file_too_large", size="2 MB", lines=batches.MAX_LINES)
    return actions.create(
        state=state,
        user=user,
        client=client_of(request),
        from_account_id=from_account_id,
        data=data,
        filename=filename,
    )


@router.post("/batches", status_code=201, response_model=BatchOut)
def create(body: BatchIn, request: Request, user: ApiUser, state: State) -> dict[str, Any]:
    return actions.create(
        state=state,
        user=user,
        client=client_of(request),
        from_account_id=body.from_account_id,
        lines=[LineIn(**line.model_dump()) for line in body.lines],
    )


@router.get("/batches", response_model=list[BatchOut])
def list_batches(request: Request, user: ApiUser, state: State) -> list[dict[str, Any]]:
    return actions.list_batches(state=state, user=user, lang=client_of(request).language)


@router.get("/batches/{batch_id}", response_model=BatchOut)
def get_batch(batch_id: str, request: Request, user: ApiUser, state: State) -> dict[str, Any]:
    """The batch with every line: its error (a draft) or its result (once executed)."""
    return actions.get_batch(
        state=state, user=user, batch_id=batch_id, lang=client_of(request).language
    )


@router.get("/batches/{batch_id}/result.csv")
def result_file(batch_id: str, request: Request, user: ApiUser, state: State) -> Response:
    data = actions.result_file(
        state=state, user=user, batch_id=batch_id, lang=client_of(request).language
    )
    return attachment(
        data, media_type="text/csv; charset=utf-8", filename=f"batch-{batch_id[:36]}.csv"
    )


@router.post("/batches/{batch_id}/code", status_code=204)
def send_code(
    batch_id: str,
    request: Request,
    user: ApiUser,
    state: State,
    body: BatchCodeIn | None = None,
) -> Response:
    actions.send_code(
        state=state,
        user=user,
        batch_id=batch_id,
        channel=(body or BatchCodeIn()).channel,
        client=client_of(request),
    )
    return Response(status_code=204)


@router.post("/batches/{batch_id}/confirm", response_model=BatchOut)
def confirm(
    batch_id: str,
    request: Request,
    state: State,
    body: BatchConfirmIn | None = None,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    body = body or BatchConfirmIn()
    transaction_password, code = opened_factors(request, state, body)

    def run() -> Answer:
        return actions.confirm(
            state=state,
            caller=caller_of(request),
            key=idempotency_key,
            batch_id=batch_id,
            key_digest=body.key_digest,
            transaction_password=transaction_password,
            code=code,
        )

    return respond(request, run)


@router.post("/batches/{batch_id}/cancel", response_model=BatchOut)
def cancel(batch_id: str, request: Request, user: ApiUser, state: State) -> dict[str, Any]:
    return actions.cancel(state=state, user=user, client=client_of(request), batch_id=batch_id)
