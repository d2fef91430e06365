"""Batch transfers: upload (CSV or XLSX) or typed lines -> every line validated, a preview
with count and total -> ONE confirmation whose code is bound to the count, the total and
the digest of every line (PSD2 RTS art. 5 for batches) -> the worker executes each line as
one transfer, `payments.prepare` + `payments.confirm(authorized_as="batch")`, the line's
result committed with it, so a crash mid-batch leaves every line done once or not at all.

A file is refused whole, before it is parsed, over MAX_FILE_BYTES or MAX_LINES; a file in
neither UTF-8 (with or without BOM) nor GBK/GB18030, or binary, is refused as unreadable.
A batch with any invalid line cannot be confirmed: nothing is half-done.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from wangyin.accounts.models import Account
from wangyin.batches.models import (
    CANCELLED,
    DONE,
    DRAFT,
    EXECUTING,
    LINE_COMPLETED,
    LINE_FAILED,
    LINE_INVALID,
    LINE_READY,
    Batch,
    BatchLine,
)
from wangyin.clock import as_utc
from wangyin.config import Settings
from wangyin.db import table_of
from wangyin.errors import DomainError
from wangyin.i18n import gettext
from wangyin.identity import otp
from wangyin.identity.models import Customer, User
from wangyin.ids import new_public_id
from wangyin.ledger import service as ledger
from wangyin.money import format_grouped, format_minor, parse_amount
from wangyin.notify import service as notify
from wangyin.schedules.service import make_transfer, reason_text, strong_confirmation
from wangyin.security import audit
from wangyin.security.audit import Client
from wangyin.security.masking import mask_account_number
from wangyin.text import has_bidi_control, has_control

MAX_FILE_BYTES = 2 * 1024 * 1024
MAX_LINES = 5000
# The template's columns (Chinese, as the bank's customers expect), and what else a header
# may say for each.
COLUMNS = ("收款账号", "收款人户名", "金额", "附言")
_HEADER_WORDS = {
    "收款账号",
    "收款人账号",
    "账号",
    "收款人户名",
    "户名",
    "收款人",
    "金额",
    "附言",
    "备注",
    "account",
    "name",
    "amount",
    "remark",
}


@dataclass(frozen=True)
class LineIn:
    to_account_number: str
    payee_name: str
    amount: str
    remark: str = ""


# --- reading a file -----------------------------------------------------------------------


def _decode(data: bytes) -> str:
    """UTF-8 (Excel's "CSV UTF-8" puts a BOM first) or GBK/GB18030 (Excel's plain "CSV" on
    a Chinese Windows); binary data (NULs, control characters) is refused."""
    if b"\x00" in data:
        raise DomainError("batch_file_unreadable")
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if has_control(text.replace("\r", "").replace("\n", "").replace("\t", "")):
            break
        return text
    raise DomainError("batch_file_unreadable")


def _cell(value: Any) -> str:
    """An XLSX cell as the customer sees it: numbers without a float's tail."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        try:
            exact = Decimal(repr(value))
        except InvalidOperation:
            return str(value)
        return format(exact.normalize(), "f") if exact != exact.to_integral() else str(int(exact))
    return str(value)


def _xlsx_rows(data: bytes) -> list[list[str]]:
    from openpyxl import load_workbook  # only batch uploads need it

    rows: list[list[str]] = []
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        try:
            # Read lazily: a sheet of a million rows stops at the line limit.
            for row in book.worksheets[0].iter_rows(values_only=True):
                rows.append([_cell(v) for v in row[:4]])
                if len(rows) > MAX_LINES + 1:
                    break
        finally:
            book.close()
    except Exception:  # whatever a damaged or foreign file raises in the reader
        raise DomainError("batch_file_unreadable") from None
    if len(rows) > MAX_LINES + 1:
        raise DomainError("batch_file_too_large", size="2 MB", lines=MAX_LINES)
    return rows


def read_file(data: bytes) -> list[LineIn]:
    """The lines of an uploaded file (its header row, if any, and empty rows left out)."""
    if len(data) > MAX_FILE_BYTES:
        raise DomainError("batch_file_too_large", size="2 MB", lines=MAX_LINES)
    if data[:4] == b"PK\x03\x04":
        rows = _xlsx_rows(data)
    else:
        rows = list(csv.reader(io.StringIO(_decode(data))))
    lines = []
    for index, row in enumerate(rows):
        cells = [c.strip() for c in row[:4]] + [""] * (4 - len(row[:4]))
        if not any(cells):
            continue
        if index == 0 and cells[0].lower().replace(" ", "") in _HEADER_WORDS:
            continue
        lines.append(LineIn(*cells))
        if len(lines) > MAX_LINES:
            raise DomainError("batch_file_too_large", size="2 MB", lines=MAX_LINES)
    if not lines:
        raise DomainError("batch_empty")
    return lines


def template_xlsx() -> bytes:
    """The downloadable template: Chinese headers, account and amount columns as text (so
    Excel keeps all 19 digits), one example line."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None  # noqa: S101 - a new workbook has its sheet
    sheet.title = "批量转账"
    sheet.append(list(COLUMNS))
    sheet.append(["6230580000000000001", "张三", "100.00", "货款"])
    for column, width in zip("ABCD", (26, 16, 14, 30), strict=True):
        sheet.column_dimensions[column].width = width
        for cell in sheet[column]:
            cell.number_format = "@"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def template_csv() -> bytes:
    text = ",".join(COLUMNS) + "\r\n6230580000000000001,张三,100.00,货款\r\n"
    return text.encode("utf-8-sig")


# --- validating and storing --------------------------------------------------------------


def validate(line: LineIn, *, currency: str) -> tuple[int, str]:
    """(amount in minor units, "" or the error code of the line)."""
    number = "".join(line.to_account_number.split())
    if not (number.isdigit() and number.isascii() and 10 <= len(number) <= 30):
        return 0, "batch_line_account"
    name = " ".join(line.payee_name.split())
    if not name or len(name) > 50 or has_control(name) or has_bidi_control(name):
        return 0, "batch_line_name"
    remark = line.remark
    if len(remark) > 50 or has_control(remark) or has_bidi_control(remark):
        return 0, "batch_line_remark"
    try:
        return parse_amount(line.amount.strip(), currency), ""
    except DomainError as error:
        return 0, error.code


def _lines_digest(lines: list[dict[str, Any]]) -> str:
    canonical = [
        [x["seq"], x["to_account_number"], x["payee_name"], x["amount_minor"], x["remark"]]
        for x in lines
    ]
    return hashlib.sha256(
        json.dumps(canonical, ensure_ascii=False, separators=(",", ":")).encode()
    ).hexdigest()


def _digest(batch: Batch, *, from_number: str, lines_digest: str) -> str:
    """Count, total and every line (its digest), bound to this batch and account."""
    return ledger.request_digest(
        {
            "batch": batch.public_id,
            "from": from_number,
            "count": batch.line_count,
            "total": format_minor(batch.total_minor, batch.currency),
            "currency": batch.currency,
            "lines": lines_digest,
            "created": as_utc(batch.created_at).replace(microsecond=0).isoformat(),
        }
    )


_LINES = table_of(BatchLine)


def create(
    session: Session,
    *,
    customer_id: int,
    user_id: int,
    actor: str,
    from_account_id: str,
    lines: list[LineIn],
    filename: str,
    at: datetime,
    client: Client,
) -> Batch:
    """A draft batch with every line and its error, if any."""
    if not lines:
        raise DomainError("batch_empty")
    if len(lines) > MAX_LINES:
        raise DomainError("batch_file_too_large", size="2 MB", lines=MAX_LINES)
    source = session.scalars(select(Account).where(Account.public_id == from_account_id)).first()
    if source is None or source.customer_id != customer_id:
        raise DomainError("account_not_found")
    if source.status != "active":
        raise DomainError("account_inactive")
    rows = []
    for seq, line in enumerate(lines, start=1):
        amount_minor, error = validate(line, currency=source.currency)
        rows.append(
            {
                "seq": seq,
                "to_account_number": "".join(line.to_account_number.split())[:40],
                "payee_name": " ".join(line.payee_name.split())[:60],
                "amount": line.amount.strip()[:40],
                "amount_minor": amount_minor,
                "remark": line.remark.strip()[:60],
                "status": LINE_INVALID if error else LINE_READY,
                "reason": error,
            }
        )
    batch = Batch(
        public_id=new_public_id(),
        customer_id=customer_id,
        user_id=user_id,
        from_account_id=source.id,
        currency=source.currency,
        filename=filename[:100],
        line_count=len(rows),
        invalid_count=sum(1 for r in rows if r["reason"]),
        total_minor=sum(r["amount_minor"] for r in rows),
        key_digest="",
        status=DRAFT,
        language=client.language if client.language in ("zh", "en") else "zh",
        created_at=at.replace(microsecond=0),
    )
    batch.key_digest = _digest(
        batch, from_number=source.account_number, lines_digest=_lines_digest(rows)
    )
    session.add(batch)
    session.flush()
    session.execute(insert(_LINES), [{**r, "batch_id": batch.id} for r in rows])
    audit.append(
        session,
        event="batch_uploaded",
        outcome="success",
        actor=actor,
        at=at,
        client=client,
        customer_id=customer_id,
        details=_audit_details(batch),
    )
    return batch


def _audit_details(batch: Batch) -> dict[str, str]:
    return {
        "batch": batch.public_id,
        "count": str(batch.line_count),
        "total": format_minor(batch.total_minor, batch.currency),
        "currency": batch.currency,
        "digest": batch.key_digest,
    }


def get(session: Session, *, customer_id: int, batch_id: str, lock: bool = False) -> Batch:
    query = select(Batch).where(Batch.public_id == batch_id)
    if lock:
        query = query.with_for_update()
    batch = session.scalars(query).first()
    if batch is None or batch.customer_id != customer_id:
        raise DomainError("batch_not_found")
    return batch


def lines_of(session: Session, batch: Batch) -> list[BatchLine]:
    return list(
        session.scalars(
            select(BatchLine).where(BatchLine.batch_id == batch.id).order_by(BatchLine.seq)
        )
    )


def _check_draft(batch: Batch, *, at: datetime, settings: Settings) -> None:
    if batch.status != DRAFT:
        raise DomainError("batch_not_draft")
    if batch.invalid_count:
        raise DomainError("batch_has_errors", count=batch.invalid_count)
    if at >= as_utc(batch.created_at) + timedelta(seconds=settings.transfer_confirm_seconds):
        raise DomainError("batch_expired")


def send_code(
    session: Session,
    *,
    customer_id: int,
    batch_id: str,
    channel: str,
    client: Client,
    at: datetime,
    settings: Settings,
) -> None:
    """A code bound to the batch's digest; its text names the count and the total."""
    batch = get(session, customer_id=customer_id, batch_id=batch_id)
    _check_draft(batch, at=at, settings=settings)
    otp.issue(
        session,
        user=session.get_one(User, batch.user_id),
        purpose="transfer",
        binding=batch.key_digest,
        channel=channel,
        at=at,
        settings=settings,
        # The transfer code's text, naming the batch: "to N accounts" in place of a tail.
        message_fields={
            "tail": gettext("{count} accounts", client.language, count=batch.line_count),
            "amount": format_minor(batch.total_minor, batch.currency),
            "currency": batch.currency,
        },
        client=client,
        audit_details={"batch": batch.public_id},
    )


def confirm(
    session: Session,
    *,
    customer_id: int,
    actor: str,
    batch_id: str,
    key_digest: str | None,
    transaction_password: str | None,
    code: str | None,
    at: datetime,
    settings: Settings,
    client: Client,
) -> Batch:
    """One confirmation for the whole batch: the digest is computed again from the stored
    lines, so a line changed since the preview does not confirm."""
    batch = get(session, customer_id=customer_id, batch_id=batch_id, lock=True)
    _check_draft(batch, at=at, settings=settings)
    source = session.get_one(Account, batch.from_account_id)
    rows = [
        {
            "seq": x.seq,
            "to_account_number": x.to_account_number,
            "payee_name": x.payee_name,
            "amount_minor": x.amount_minor,
            "remark": x.remark,
        }
        for x in lines_of(session, batch)
    ]
    digest = _digest(batch, from_number=source.account_number, lines_digest=_lines_digest(rows))
    if digest != batch.key_digest or (key_digest is not None and key_digest != digest):
        raise DomainError("transfer_data_changed")
    strong_confirmation(
        session,
        user_id=batch.user_id,
        binding=digest,
        transaction_password=transaction_password,
        code=code,
        at=at,
        settings=settings,
        client=client,
    )
    batch.status = EXECUTING
    batch.confirmed_at = at
    audit.append(
        session,
        event="batch_confirmed",
        outcome="success",
        actor=actor,
        at=at,
        client=client,
        customer_id=customer_id,
        details={**_audit_details(batch), "with": "pin+otp"},
    )
    return batch


def cancel(
    session: Session, *, customer_id: int, actor: str, batch_id: str, at: datetime, client: Client
) -> Batch:
    batch = get(session, customer_id=customer_id, batch_id=batch_id, lock=True)
    if batch.status != DRAFT:
        raise DomainError("batch_not_draft")
    batch.status = CANCELLED
    batch.finished_at = at
    audit.append(
        session,
        event="batch_cancelled",
        outcome="success",
        actor=actor,
        at=at,
        client=client,
        customer_id=customer_id,
        details={"batch": batch.public_id},
    )
    return batch


# --- the worker's side -------------------------------------------------------------------


def claim_lines(session: Session, *, limit: int) -> list[BatchLine]:
    """The next ready lines of confirmed batches that nobody else holds."""
    return list(
        session.scalars(
            select(BatchLine)
            .join(Batch, Batch.id == BatchLine.batch_id)
            .where(Batch.status == EXECUTING, BatchLine.status == LINE_READY)
            .order_by(BatchLine.batch_id, BatchLine.seq)
            .limit(limit)
            .with_for_update(of=BatchLine, skip_locked=True)
        )
    )


def execute_line(session: Session, line: BatchLine, *, at: datetime, settings: Settings) -> str:
    """One line, one transfer: made, or refused with its reason, in this transaction."""
    batch = session.get_one(Batch, line.batch_id)
    source = session.get_one(Account, batch.from_account_id)
    transfer_id, refused = make_transfer(
        session,
        customer_id=batch.customer_id,
        user_id=batch.user_id,
        from_account_id=source.public_id,
        to_account_number=line.to_account_number,
        payee_name=line.payee_name,
        amount_minor=line.amount_minor,
        currency=batch.currency,
        remark=line.remark or "批量转账",
        authorized_as="batch",
        at=at,
        settings=settings,
    )
    line.status = LINE_FAILED if refused else LINE_COMPLETED
    line.reason, line.executed_at, line.transfer_public_id = refused, at, transfer_id
    return line.status


def finish_batches(session: Session, *, at: datetime) -> int:
    """Executing batches with no line left to do are done, with their counts (kept off the
    line path: no row that every line writes)."""
    open_batches = session.scalars(
        select(Batch).where(Batch.status == EXECUTING).with_for_update(skip_locked=True)
    ).all()
    finished = 0
    for batch in open_batches:
        counts = dict(
            session.execute(
                select(BatchLine.status, func.count(BatchLine.id))
                .where(BatchLine.batch_id == batch.id)
                .group_by(BatchLine.status)
            ).all()
        )
        if counts.get(LINE_READY):
            continue
        batch.completed_count = counts.get(LINE_COMPLETED, 0)
        batch.failed_count = counts.get(LINE_FAILED, 0)
        batch.completed_minor = int(
            session.scalar(
                select(func.coalesce(func.sum(BatchLine.amount_minor), 0)).where(
                    BatchLine.batch_id == batch.id, BatchLine.status == LINE_COMPLETED
                )
            )
            or 0
        )
        batch.status = DONE
        batch.finished_at = at
        # One text for the whole batch (the lines' own balance texts go to the payees only).
        customer = session.get_one(Customer, batch.customer_id)
        notify.enqueue(
            session,
            channel="sms",
            phone=customer.mobile,
            purpose="balance_change",
            at=at,
            text=gettext(
                "Your batch transfer is done: {completed} paid, {amount} CNY in all; "
                "{failed} not paid.",
                "zh",
                completed=batch.completed_count,
                amount=format_grouped(batch.completed_minor, "CNY"),
                failed=batch.failed_count,
            ),
        )
        finished += 1
    return finished


# --- what the customer sees ----------------------------------------------------------------


def view(
    session: Session, batch: Batch, *, lang: str, settings: Settings, with_lines: bool = True
) -> dict[str, Any]:
    source = session.get_one(Account, batch.from_account_id)
    lines = lines_of(session, batch) if with_lines else []
    counts: dict[str, int] = {}
    for line in lines:
        counts[line.status] = counts.get(line.status, 0) + 1
    out: dict[str, Any] = {
        "id": batch.public_id,
        "status": batch.status,
        "from_account_number": mask_account_number(source.account_number),
        "currency": batch.currency,
        "filename": batch.filename,
        "count": batch.line_count,
        "invalid_count": batch.invalid_count,
        "total": format_minor(batch.total_minor, batch.currency),
        "total_display": format_grouped(batch.total_minor, batch.currency),
        "completed_count": counts.get(LINE_COMPLETED, batch.completed_count),
        "failed_count": counts.get(LINE_FAILED, batch.failed_count),
        "pending_count": counts.get(LINE_READY, 0) if batch.status == EXECUTING else 0,
        "key_digest": batch.key_digest,
        "created_at": as_utc(batch.created_at).isoformat(),
        "confirm_by": (
            as_utc(batch.created_at) + timedelta(seconds=settings.transfer_confirm_seconds)
        ).isoformat(),
        "confirmed_at": as_utc(batch.confirmed_at).isoformat() if batch.confirmed_at else None,
        "finished_at": as_utc(batch.finished_at).isoformat() if batch.finished_at else None,
    }
    if with_lines:
        out["lines"] = [
            {
                "seq": x.seq,
                "to_account_number": x.to_account_number,
                "payee_name": x.payee_name,
                "amount": x.amount,
                "remark": x.remark,
                "status": x.status,
                "reason": x.reason,
                "reason_text": reason_text(x.reason, lang),
                "transfer_id": x.transfer_public_id,
            }
            for x in lines
        ]
    return out


def list_batches(session: Session, *, customer_id: int) -> list[Batch]:
    return list(
        session.scalars(
            select(Batch)
            .where(Batch.customer_id == customer_id)
            .order_by(Batch.id.desc())
            .limit(50)
        )
    )


RESULT_WORDS = {
    LINE_COMPLETED: "Completed",
    LINE_FAILED: "Failed",
    LINE_READY: "Waiting",
    LINE_INVALID: "Invalid",
}


def result_csv(session: Session, batch: Batch, *, lang: str) -> bytes:
    """The batch's per-line results, as a CSV Excel opens in Chinese (UTF-8 with BOM)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(
        [
            gettext(h, lang)
            for h in (
                "Line",
                "Payee account",
                "Payee name",
                "Amount",
                "Remark",
                "Result",
                "Reason",
                "Reference",
            )
        ]
    )
    for x in lines_of(session, batch):
        writer.writerow(
            [
                x.seq,
                _as_text_cell(x.to_account_number),
                _safe(x.payee_name),
                x.amount,
                _safe(x.remark),
                gettext(RESULT_WORDS.get(x.status, x.status), lang),
                reason_text(x.reason, lang),
                x.transfer_public_id or "",
            ]
        )
    return out.getvalue().encode("utf-8-sig")


def _safe(text: str) -> str:
    """No spreadsheet formula from a customer's text (CSV injection)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _as_text_cell(number: str) -> str:
    """Kept as text by Excel, so a 19-digit number keeps its digits."""
    return f'="{number}"' if number.isdigit() else _safe(number)
