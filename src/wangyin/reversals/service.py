"""Reversing an intra-bank transfer (冲正) and requesting a refund from the receiving bank
of an inter-bank one (退汇申请), from a risk case (issue 7 §5). Keyword-only functions in
the caller's transaction; they never commit.

A reversal is the transfer's opposite journal entry (payee's account -> payer's account)
through `ledger.post`, keyed `reversal:<transfer id>`, decided under the transfer's row
lock: at most once per transfer (also the unique `transfer_reversals.transfer_id`). The
transfer stays COMPLETED with its own entry; `verify` checks each reversal's entry mirrors
it. A recall is recorded when approved and sent by the worker (`tasks.send_recalls`);
the receiving bank's agreement turns the item RETURNED on the network, and the clearing
worker's `follow` books the return and texts the customer, once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from wangyin.accounts.models import Account
from wangyin.backoffice import service as backoffice
from wangyin.backoffice.models import Command
from wangyin.backoffice.service import CurrentStaff
from wangyin.clearing.models import NETTED, SETTLED, InterbankTransfer
from wangyin.clock import BANK_TZ, as_utc
from wangyin.config import Settings
from wangyin.errors import DomainError
from wangyin.experience.catalogue import BANK_PHONE
from wangyin.gateways.clearing import RecallAnswer
from wangyin.identity.models import Customer
from wangyin.ids import new_public_id
from wangyin.ledger import service as ledger
from wangyin.ledger.models import Posting
from wangyin.ledger.service import VerifyReport
from wangyin.money import format_grouped, format_minor
from wangyin.notify import service as notify
from wangyin.payments.models import COMPLETED, TransferRequest
from wangyin.reversals import errors as _errors  # noqa: F401 - registers the error codes
from wangyin.reversals.models import AGREED, REFUSED, REQUESTED, InterbankRecall, TransferReversal
from wangyin.risk import service as risk
from wangyin.risk.models import RiskCase
from wangyin.security import audit
from wangyin.security.audit import Client
from wangyin.security.masking import mask_account_number, mask_name

REASON_MAX = 300
REVERSAL_MEMO = "冲正"


def clean_reason(value: object) -> str:
    if not isinstance(value, str):
        raise DomainError("reason_required")
    text = " ".join(value.split())
    if len(text) < 4:
        raise DomainError("reason_required")
    return text[:REASON_MAX]


def case_of_customer(session: Session, *, case_id: object, customer_id: int) -> RiskCase:
    """The open case the action is proposed from: about this very customer."""
    try:
        number = int(str(case_id))
    except ValueError:
        raise DomainError("case_not_found") from None
    case = session.get(RiskCase, number)
    if case is None or case.customer_id != customer_id:
        raise DomainError("case_not_found")
    if case.status == "closed":
        raise DomainError("case_closed")
    return case


def propose_from_case(
    session: Session,
    *,
    case_id: int,
    kind: str,
    transfer_id: str,
    reason: str,
    staff: CurrentStaff,
    client: Client,
    at: datetime,
    settings: Settings,
) -> Command:
    """The case's assignee proposes a command of `kind` about the case's customer: the
    case's row first (as its other actions take it), then the pipeline; the proposal is
    noted on the case."""
    case = risk.worked_case(session, case_id=case_id, staff_id=staff.public_id)
    if case.customer_id is None:
        raise DomainError("case_has_no_customer")
    customer = session.get_one(Customer, case.customer_id)
    command = backoffice.propose(
        session,
        customer_id=customer.public_id,
        kind=kind,
        payload={"case_id": case.id, "transfer_id": transfer_id, "reason": reason},
        reason=f"case {case.public_id or case.id}: {reason}",
        staff=staff,
        client=client,
        at=at,
        settings=settings,
    )
    risk.append_note(
        case,
        staff_id=staff.public_id,
        note=f"proposed {kind} of {transfer_id} ({command.public_id})",
        at=at,
    )
    return command


def _when(at: datetime) -> str:
    return as_utc(at).astimezone(BANK_TZ).strftime("%m月%d日%H:%M")


# --- reversals of intra-bank transfers -------------------------------------------------


_Transfer = TypeVar("_Transfer", TransferRequest, InterbankTransfer)


def _customers(
    session: Session,
    model: type[_Transfer],
    *,
    customer_id: int,
    transfer_id: object,
    refusal: str,
    lock: bool = False,
) -> _Transfer:
    """The customer's own transfer (another's is refused like none), locked if asked."""
    if not isinstance(transfer_id, str) or len(transfer_id) > 36:
        raise DomainError(refusal)
    query = select(model).where(model.public_id == transfer_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    found = session.scalars(query).first()
    if found is None or found.customer_id != customer_id:
        raise DomainError(refusal)
    return found


def _transfer(
    session: Session, *, customer_id: int, transfer_id: object, lock: bool = False
) -> TransferRequest:
    transfer = _customers(
        session, TransferRequest, customer_id=customer_id, transfer_id=transfer_id,
        refusal="transfer_not_reversible", lock=lock,
    )  # fmt: skip
    if transfer.status != COMPLETED or transfer.journal_entry_id is None:
        raise DomainError("transfer_not_reversible")
    return transfer


def reversal_of(session: Session, *, transfer_row: int) -> TransferReversal | None:
    return session.scalars(
        select(TransferReversal).where(TransferReversal.transfer_id == transfer_row)
    ).first()


def check_reversible(session: Session, *, customer_id: int, transfer_id: object) -> TransferRequest:
    """What a proposal is checked against (the approval decides again under the lock)."""
    transfer = _transfer(session, customer_id=customer_id, transfer_id=transfer_id)
    if reversal_of(session, transfer_row=transfer.id) is not None:
        raise DomainError("transfer_already_reversed")
    return transfer


@dataclass(frozen=True)
class Reversed:
    reversal: TransferReversal
    payer_balance_minor: int
    payee_balance_minor: int


def reverse_transfer(
    session: Session,
    *,
    customer_id: int,
    transfer_id: str,
    command_id: str,
    case_id: int | None,
    reason: str,
    actor: str,
    client: Client | None,
    at: datetime,
) -> Reversed:
    """Post the opposite legs of a completed intra-bank transfer, once, under the
    transfer's row lock; refuse with nothing written (`transfer_not_reversible`,
    `transfer_already_reversed`, `reversal_insufficient_funds`). Texts both customers
    (after commit, through the outbox) and audits on the payer's chain."""
    transfer = _transfer(session, customer_id=customer_id, transfer_id=transfer_id, lock=True)
    if reversal_of(session, transfer_row=transfer.id) is not None:
        raise DomainError("transfer_already_reversed")
    source = session.get_one(Account, transfer.from_account_id)
    payee = session.get_one(Account, transfer.to_account_id)
    if source.status == "closed" or payee.status == "closed":
        raise DomainError("transfer_not_reversible")
    payer = session.get_one(Customer, transfer.customer_id)
    payee_holder = session.get_one(Customer, payee.customer_id)
    amount, currency = transfer.amount_minor, transfer.currency
    legs = [
        ledger.Leg(
            payee.ledger_account_id,
            -amount,
            currency,
            memo=f"{REVERSAL_MEMO}：银行扣回错误/欺诈入账",
            counterparty_name=payer.name,
            counterparty_account=source.account_number,
        ),
        ledger.Leg(
            source.ledger_account_id,
            amount,
            currency,
            memo=f"{REVERSAL_MEMO}：转账款项退回",
            counterparty_name=transfer.payee_name,
            counterparty_account=payee.account_number,
        ),
    ]
    try:
        posted = ledger.post(
            session,
            kind="transfer_reversal",
            legs=legs,
            at=at,
            description=f"冲正 {transfer.public_id}",
            idempotency_key=f"reversal:{transfer.public_id}",
            digest=ledger.request_digest({"transfer": transfer.public_id, "command": command_id}),
        )
    except DomainError as exc:
        if exc.code == "insufficient_funds":
            raise DomainError("reversal_insufficient_funds") from None
        raise
    if posted.replayed:  # the unique key saw it first: never twice
        raise DomainError("transfer_already_reversed")
    reversal = TransferReversal(
        transfer_id=transfer.id,
        journal_entry_id=posted.id,
        command_id=command_id,
        case_id=case_id,
        reason=reason[:REASON_MAX],
        reversed_by=actor[:48],
        reversed_at=at,
    )
    session.add(reversal)
    session.flush()
    shown = f"{format_grouped(amount, currency)} {currency}"
    payer_balance = posted.balances.get(source.ledger_account_id, 0)
    payee_balance = posted.balances.get(payee.ledger_account_id, 0)
    notify.enqueue(
        session,
        channel="sms",
        phone=payer.mobile,
        purpose="balance_change",
        at=at,
        text=(
            f"【网银】您尾号{source.account_number[-4:]}的账户向{mask_name(transfer.payee_name)}"
            f"的转账 {shown} 已由本行冲正，款项于{_when(at)}退回您的账户，余额 "
            f"{format_grouped(payer_balance, currency)}。"
        ),
    )
    notify.enqueue(
        session,
        channel="sms",
        phone=payee_holder.mobile,
        purpose="balance_change",
        at=at,
        text=(
            f"【网银】您尾号{payee.account_number[-4:]}的账户收到的一笔 {shown} 入账经本行核查"
            f"为错误或欺诈款项，已于{_when(at)}冲正扣回，余额 "
            f"{format_grouped(payee_balance, currency)}。如有疑问请致电 {BANK_PHONE}。"
        ),
    )
    audit.append(
        session,
        event="transfer_reversed",
        outcome="success",
        actor=actor,
        at=at,
        client=client,
        customer_id=payer.id,
        details={
            "transfer": transfer.public_id,
            "command": command_id,
            "amount": format_minor(amount, currency),
            "currency": currency,
        },
    )
    return Reversed(reversal, payer_balance, payee_balance)


# --- refund requests to the receiving bank (inter-bank) ----------------------------------


def _interbank(
    session: Session, *, customer_id: int, transfer_id: object, lock: bool = False
) -> InterbankTransfer:
    return _customers(
        session, InterbankTransfer, customer_id=customer_id, transfer_id=transfer_id,
        refusal="recall_not_possible", lock=lock,
    )  # fmt: skip


def _open_recall(session: Session, *, transfer_row: int) -> InterbankRecall | None:
    return session.scalars(
        select(InterbankRecall).where(
            InterbankRecall.transfer_id == transfer_row,
            InterbankRecall.status.in_((REQUESTED, AGREED)),
        )
    ).first()


def check_recallable(
    session: Session,
    *,
    customer_id: int,
    transfer_id: object,
    at: datetime | None,
    return_days: int = 0,
) -> InterbankTransfer:
    """Netted or settled by the network, no recall open, and (with `at`) settled recently
    enough that the clearing worker still follows it (its return window)."""
    transfer = _interbank(session, customer_id=customer_id, transfer_id=transfer_id)
    if transfer.status not in (NETTED, SETTLED):
        raise DomainError("recall_not_possible")
    if at is not None and transfer.status == SETTLED and transfer.settled_at is not None:
        followed_until = as_utc(transfer.settled_at) + timedelta(days=return_days + 3)
        if at >= followed_until - timedelta(hours=1):
            raise DomainError("recall_window_passed")
    if _open_recall(session, transfer_row=transfer.id) is not None:
        raise DomainError("recall_already_requested")
    return transfer


def request_recall(
    session: Session,
    *,
    customer_id: int,
    transfer_id: str,
    command_id: str,
    case_id: int | None,
    reason: str,
    actor: str,
    client: Client | None,
    at: datetime,
    return_days: int,
) -> InterbankRecall:
    """Record the approved request under the transfer's row lock (decided again there);
    the worker sends it to the network after this commits."""
    _interbank(session, customer_id=customer_id, transfer_id=transfer_id, lock=True)
    transfer = check_recallable(
        session, customer_id=customer_id, transfer_id=transfer_id, at=at, return_days=return_days
    )
    recall = InterbankRecall(
        public_id=new_public_id(),
        transfer_id=transfer.id,
        command_id=command_id,
        case_id=case_id,
        reason=reason[:REASON_MAX],
        status=REQUESTED,
        answer_reason="",
        requested_by=actor[:48],
        requested_at=at,
    )
    session.add(recall)
    session.flush()
    audit.append(
        session,
        event="interbank_recall_requested",
        outcome="success",
        actor=actor,
        at=at,
        client=client,
        customer_id=customer_id,
        details={"transfer": transfer.public_id, "command": command_id, "recall": recall.public_id},
    )
    return recall


@dataclass(frozen=True)
class Unanswered:
    recall_id: int
    msg_id: str
    reason: str


def unanswered(session: Session, *, limit: int = 50) -> list[Unanswered]:
    rows = session.execute(
        select(InterbankRecall.id, InterbankTransfer.public_id, InterbankRecall.reason)
        .join(InterbankTransfer, InterbankTransfer.id == InterbankRecall.transfer_id)
        .where(InterbankRecall.status == REQUESTED)
        .order_by(InterbankRecall.id)
        .limit(limit)
    )
    return [Unanswered(r[0], r[1], r[2]) for r in rows]


def record_recall_answer(
    session: Session, *, recall_id: int, answer: RecallAnswer, at: datetime
) -> InterbankRecall | None:
    """The receiving bank's answer, once (the recall's row lock); a note on the case (its
    row after the recall's, before the audit head, as the case's own actions take them)."""
    recall = session.scalars(
        select(InterbankRecall)
        .where(InterbankRecall.id == recall_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()
    if recall is None or recall.status != REQUESTED:
        return None
    recall.status = AGREED if answer.agreed else REFUSED
    recall.answer_reason = answer.reason[:40]
    recall.answered_at = at
    transfer = session.get_one(InterbankTransfer, recall.transfer_id)
    if recall.case_id is not None:
        case = session.scalars(
            select(RiskCase).where(RiskCase.id == recall.case_id).with_for_update()
        ).first()
        if case is not None:
            what = "agreed" if answer.agreed else f"refused ({answer.reason})"
            risk.append_note(
                case,
                staff_id="clearing",
                note=f"refund request {recall.public_id} for {transfer.public_id}: {what}",
                at=at,
            )
    audit.append(
        session,
        event="interbank_recall_answered",
        outcome="success" if answer.agreed else "refused",
        actor="clearing",
        at=at,
        customer_id=transfer.customer_id,
        details={"transfer": transfer.public_id, "recall": recall.public_id,
                 "reason": answer.reason},
    )  # fmt: skip
    return recall


# --- what staff and customers see --------------------------------------------------------


@dataclass(frozen=True)
class TransferChoice:
    """One of the case customer's transfers, for the case page's forms."""

    kind: str  # intrabank | interbank
    public_id: str
    at: datetime
    amount: str
    currency: str
    payee: str  # masked name
    to_account: str  # masked
    status: str
    reversed_at: datetime | None = None
    recall_status: str = ""
    recall_reason: str = ""

    @property
    def reversible(self) -> bool:
        return self.kind == "intrabank" and self.status == COMPLETED and self.reversed_at is None

    @property
    def recallable(self) -> bool:
        return (
            self.kind == "interbank"
            and self.status in (NETTED, SETTLED)
            and self.recall_status not in (REQUESTED, AGREED)
        )


def transfers_of(session: Session, *, customer_id: int, limit: int = 20) -> list[TransferChoice]:
    """The customer's latest completed intra-bank and sent inter-bank transfers, newest
    first, with their reversal or refund request."""
    intrabank = session.execute(
        select(TransferRequest, Account.account_number, TransferReversal.reversed_at)
        .join(Account, Account.id == TransferRequest.to_account_id)
        .outerjoin(TransferReversal, TransferReversal.transfer_id == TransferRequest.id)
        .where(TransferRequest.customer_id == customer_id, TransferRequest.status == COMPLETED)
        .order_by(TransferRequest.id.desc())
        .limit(limit)
    ).all()
    choices = [
        TransferChoice(
            kind="intrabank",
            public_id=t.public_id,
            at=as_utc(t.confirmed_at or t.created_at),
            amount=format_grouped(t.amount_minor, t.currency),
            currency=t.currency,
            payee=mask_name(t.payee_name),
            to_account=mask_account_number(number),
            status=t.status,
            reversed_at=as_utc(reversed_at) if reversed_at else None,
        )
        for t, number, reversed_at in intrabank
    ]
    interbank = session.scalars(
        select(InterbankTransfer)
        .where(
            InterbankTransfer.customer_id == customer_id,
            InterbankTransfer.confirmed_at.is_not(None),
        )
        .order_by(InterbankTransfer.id.desc())
        .limit(limit)
    ).all()
    recalls: dict[int, InterbankRecall] = {}
    if interbank:
        for recall in session.scalars(
            select(InterbankRecall)
            .where(InterbankRecall.transfer_id.in_([t.id for t in interbank]))
            .order_by(InterbankRecall.id)
        ):
            recalls[recall.transfer_id] = recall  # the latest
    for t in interbank:
        latest = recalls.get(t.id)
        choices.append(
            TransferChoice(
                kind="interbank",
                public_id=t.public_id,
                at=as_utc(t.confirmed_at or t.created_at),
                amount=format_grouped(t.amount_minor, t.currency),
                currency=t.currency,
                payee=mask_name(t.payee_name),
                to_account=mask_account_number(t.payee_account),
                status=t.status,
                recall_status=latest.status if latest else "",
                recall_reason=latest.answer_reason if latest else "",
            )
        )
    choices.sort(key=lambda c: c.at, reverse=True)
    return choices


def customer_reversal(
    session: Session, *, customer_id: int, transfer_id: str
) -> TransferReversal | None:
    """The reversal of one of the customer's own transfers (None for anyone else's)."""
    return session.scalars(
        select(TransferReversal)
        .join(TransferRequest, TransferRequest.id == TransferReversal.transfer_id)
        .where(TransferRequest.public_id == transfer_id, TransferRequest.customer_id == customer_id)
    ).first()


# --- verify --------------------------------------------------------------------------------


def verify(session: Session) -> VerifyReport:
    """Each reversal's entry is its transfer's entry with every leg turned round."""
    report = VerifyReport()
    reversals = session.execute(
        select(TransferReversal.id, TransferReversal.journal_entry_id, TransferRequest).join(
            TransferRequest, TransferRequest.id == TransferReversal.transfer_id
        )
    ).all()
    report.checks["reversed transfers"] = len(reversals)
    if not reversals:
        return report
    entries = {e for _, entry, t in reversals for e in (entry, t.journal_entry_id)}
    legs: dict[int, list[tuple[int, int]]] = {}
    for entry_id, account_id, amount in session.execute(
        select(Posting.entry_id, Posting.ledger_account_id, Posting.amount_minor).where(
            Posting.entry_id.in_(entries)
        )
    ):
        legs.setdefault(entry_id, []).append((account_id, amount))
    for reversal_id, entry_id, transfer in reversals:
        if transfer.status != COMPLETED:
            report.problems.append(f"reversal {reversal_id}: its transfer is not completed")
            continue
        original = sorted((a, -m) for a, m in legs.get(transfer.journal_entry_id or 0, []))
        if not original or original != sorted(legs.get(entry_id, [])):
            report.problems.append(
                f"reversal {reversal_id}: its entry does not mirror transfer {transfer.public_id}"
            )
    return report
