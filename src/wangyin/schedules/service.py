"""Scheduled and recurring transfers: give (pending) -> confirm with both factors (active)
-> the worker makes each run with `payments.prepare` + `payments.confirm(authorized_as=
"scheduled")` in one transaction.

Policy for a run refused for insufficient funds: tried again every hour (RETRY_EVERY)
until the end of the bank day of its due date, then failed. Any other refusal (a freeze
since, a limit, a closed account) fails the run at once with its reason. Either way the
customer is texted the outcome, in the language they gave the instruction in.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from string import Formatter
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from wangyin.accounts.models import Account
from wangyin.clock import BANK_TZ, as_utc, bank_date
from wangyin.config import Settings
from wangyin.errors import ERRORS, DomainError
from wangyin.i18n import gettext
from wangyin.identity import otp
from wangyin.identity.models import Customer, User
from wangyin.ids import new_public_id
from wangyin.ledger import service as ledger
from wangyin.money import format_grouped, format_minor, parse_amount
from wangyin.notify import service as notify
from wangyin.payments import service as payments
from wangyin.payments.models import EXPIRED, TransferRequest
from wangyin.schedules.models import (
    ACTIVE,
    CANCELLED,
    DUE,
    FINISHED,
    PAUSED,
    PENDING,
    REPLACED,
    RETRYING,
    RUN_COMPLETED,
    RUN_FAILED,
    RUN_SKIPPED,
    ScheduledRun,
    ScheduledTransfer,
)
from wangyin.security import audit
from wangyin.security.audit import Client
from wangyin.security.masking import mask_account_number

FREQUENCIES = ("once", "weekly", "monthly")
RETRY_EVERY = timedelta(hours=1)
MIN_LEAD = timedelta(minutes=5)  # the first run is at least this far ahead when given
MAX_LEAD = timedelta(days=366)
MAX_RUNS = 120
MAX_LIVE_PER_CUSTOMER = 20  # active or paused instructions a customer may have
LIVE = (ACTIVE, PAUSED)


@dataclass(frozen=True)
class Plan:
    """When an instruction runs: its first moment, how often, until when."""

    frequency: str
    start_at: datetime  # UTC
    end_date: date | None = None
    max_runs: int | None = None

    @property
    def day(self) -> int:
        local = self.start_at.astimezone(BANK_TZ)
        return local.isoweekday() if self.frequency == "weekly" else local.day

    def occurrence(self, n: int) -> datetime | None:
        """The n-th run's moment (0-based), or None once the plan has ended."""
        if n < 0 or (self.max_runs is not None and n >= self.max_runs):
            return None
        if self.frequency == "once" and n > 0:
            return None
        local = self.start_at.astimezone(BANK_TZ)
        if self.frequency == "weekly":
            local = local + timedelta(weeks=n)
        elif self.frequency == "monthly":
            months = local.month - 1 + n
            year, month = local.year + months // 12, months % 12 + 1
            # The 31st in a shorter month is its last day.
            day = min(local.day, calendar.monthrange(year, month)[1])
            local = datetime.combine(date(year, month, day), local.timetz())
        if self.end_date is not None and local.date() > self.end_date:
            return None
        return as_utc(local)


def plan_of(schedule: ScheduledTransfer) -> Plan:
    return Plan(
        frequency=schedule.frequency,
        start_at=as_utc(schedule.start_at),
        end_date=schedule.end_date,
        max_runs=schedule.max_runs,
    )


def parse_plan(
    *,
    frequency: str,
    start_date: str,
    start_time: str,
    end_date: str | None,
    max_runs: int | None,
    at: datetime,
) -> Plan:
    """The customer's schedule, in bank time, checked: the first run 5 minutes to a year
    ahead; a recurring one ends on a date not before its first run, or after 1-120 runs."""
    if frequency not in FREQUENCIES:
        raise DomainError("validation_error")
    try:
        day = date.fromisoformat(start_date.strip())
        clock_time = time.fromisoformat(start_time.strip() or "09:00")
        end = date.fromisoformat(end_date.strip()) if end_date and end_date.strip() else None
    except ValueError:
        raise DomainError("schedule_time_invalid", minutes=5) from None
    start = as_utc(datetime.combine(day, clock_time.replace(second=0, microsecond=0), BANK_TZ))
    if not (at + MIN_LEAD <= start <= at + MAX_LEAD):
        raise DomainError("schedule_time_invalid", minutes=5)
    if frequency == "once":
        return Plan(frequency=frequency, start_at=start)
    if (end is not None and end < day) or (max_runs is not None and not 1 <= max_runs <= MAX_RUNS):
        raise DomainError("schedule_end_invalid", max=MAX_RUNS)
    return Plan(frequency=frequency, start_at=start, end_date=end, max_runs=max_runs)


def _digest(schedule: ScheduledTransfer, *, from_number: str, to_number: str) -> str:
    """What the customer confirms (payee, amount, currency, schedule), bound to this
    instruction: the second factor's code signs exactly this."""
    return ledger.request_digest(
        {
            "instruction": schedule.public_id,
            "from": from_number,
            "to": to_number,
            "payee_name": schedule.payee_name,
            "amount": format_minor(schedule.amount_minor, schedule.currency),
            "currency": schedule.currency,
            "remark": schedule.remark,
            "frequency": schedule.frequency,
            "start": as_utc(schedule.start_at).isoformat(),
            "end_date": schedule.end_date.isoformat() if schedule.end_date else None,
            "max_runs": schedule.max_runs,
            "created": as_utc(schedule.created_at).replace(microsecond=0).isoformat(),
        }
    )


def _numbers(session: Session, schedule: ScheduledTransfer) -> tuple[str, str]:
    source = session.get_one(Account, schedule.from_account_id)
    payee = session.get_one(Account, schedule.to_account_id)
    return source.account_number, payee.account_number


def give(
    session: Session,
    *,
    customer_id: int,
    user_id: int,
    actor: str,
    from_account_id: str,
    to_account_number: str,
    payee_name: str,
    amount: str,
    remark: str,
    plan: Plan,
    at: datetime,
    settings: Settings,
    client: Client,
    replaces: str | None = None,
) -> ScheduledTransfer:
    """A new instruction, pending its confirmation. The parties are checked as a transfer's
    are (a missed payee counts towards the same hourly limit); the rules that depend on the
    day (balance, limits, freeze) are decided at each run."""
    old = None
    if replaces is not None:
        old = get(session, customer_id=customer_id, schedule_id=replaces)
        if old.status not in LIVE:
            raise DomainError("schedule_closed")
    live = session.scalar(
        select(func.count(ScheduledTransfer.id)).where(
            ScheduledTransfer.customer_id == customer_id, ScheduledTransfer.status.in_(LIVE)
        )
    )
    if old is None and (live or 0) >= MAX_LIVE_PER_CUSTOMER:
        raise DomainError("schedules_too_many", limit=MAX_LIVE_PER_CUSTOMER)
    payments.refuse_after_payee_misses(
        list(session.execute(*payments.payee_misses_read(customer_id=customer_id))), at=at
    )
    rows = list(session.execute(*payments.parties_read(from_account_id, to_account_number)))
    source = next(
        (r for r in rows if r.public_id == from_account_id and r.customer_id == customer_id), None
    )
    if source is None:
        raise DomainError("account_not_found")
    number = "".join(to_account_number.split())
    payee = next((r for r in rows if r.by_card), None) or next(
        (r for r in rows if r.account_number == number), None
    )
    name = " ".join(payee_name.split())
    if payee is None or name != payee.name:
        payments.count_payee_miss(session, customer_id=customer_id, at=at)
        raise DomainError("payee_not_found" if payee is None else "payee_name_mismatch")
    if payee.id == source.id:
        raise DomainError("same_account")
    if source.status != "active":
        raise DomainError("account_inactive")
    if payee.status != "active":
        raise DomainError("payee_inactive")
    currency = source.currency
    if payee.currency != currency:
        raise DomainError("currency_mismatch", currency=currency)
    amount_minor = parse_amount(amount.strip(), currency)
    # Over the customer's own single-transfer limit: no run could ever be made.
    limits = payments.read_limit_state(session, user_id=user_id)
    payments.check_limits(
        limits, amount_minor=amount_minor, currency=currency, at=plan.start_at, settings=settings
    )
    created = at.replace(microsecond=0)
    schedule = ScheduledTransfer(
        public_id=new_public_id(),
        customer_id=customer_id,
        user_id=user_id,
        from_account_id=source.id,
        to_account_id=payee.id,
        payee_name=name,
        amount_minor=amount_minor,
        currency=currency,
        remark=remark.strip()[:50],
        frequency=plan.frequency,
        start_at=plan.start_at,
        day=plan.day,
        end_date=plan.end_date,
        max_runs=plan.max_runs,
        runs_made=0,
        next_run_at=None,
        status=PENDING,
        key_digest="",
        replaces_id=old.id if old else None,
        language=client.language if client.language in ("zh", "en") else "zh",
        created_at=created,
        updated_at=created,
    )
    schedule.key_digest = _digest(schedule, from_number=source.account_number, to_number=number)
    session.add(schedule)
    session.flush()
    audit.append(
        session,
        event="schedule_given",
        outcome="success",
        actor=actor,
        at=at,
        client=client,
        customer_id=customer_id,
        details=_audit_details(schedule, to_number=payee.account_number),
    )
    return schedule


def _audit_details(schedule: ScheduledTransfer, *, to_number: str) -> dict[str, str]:
    return {
        "schedule": schedule.public_id,
        "to": mask_account_number(to_number),
        "amount": format_minor(schedule.amount_minor, schedule.currency),
        "currency": schedule.currency,
        "frequency": schedule.frequency,
        "digest": schedule.key_digest,
    }


def get(
    session: Session, *, customer_id: int, schedule_id: str, lock: bool = False
) -> ScheduledTransfer:
    """The customer's own instruction, or 404: another customer's id looks like none."""
    query = select(ScheduledTransfer).where(ScheduledTransfer.public_id == schedule_id)
    if lock:
        query = query.with_for_update()
    schedule = session.scalars(query).first()
    if schedule is None or schedule.customer_id != customer_id:
        raise DomainError("schedule_not_found")
    return schedule


def _check_pending(schedule: ScheduledTransfer, *, at: datetime, settings: Settings) -> None:
    if schedule.status != PENDING:
        raise DomainError("schedule_not_pending")
    if at >= as_utc(schedule.created_at) + timedelta(seconds=settings.transfer_confirm_seconds):
        raise DomainError("schedule_expired")


def send_code(
    session: Session,
    *,
    customer_id: int,
    schedule_id: str,
    channel: str,
    client: Client,
    at: datetime,
    settings: Settings,
) -> None:
    """A code bound to the instruction's digest; the text names the payee's tail and the
    amount, as a transfer's does."""
    schedule = get(session, customer_id=customer_id, schedule_id=schedule_id)
    _check_pending(schedule, at=at, settings=settings)
    _, to_number = _numbers(session, schedule)
    otp.issue(
        session,
        user=session.get_one(User, schedule.user_id),
        purpose="transfer",
        binding=schedule.key_digest,
        channel=channel,
        at=at,
        settings=settings,
        message_fields={
            "tail": to_number[-4:],
            "amount": format_minor(schedule.amount_minor, schedule.currency),
            "currency": schedule.currency,
        },
        client=client,
        audit_details={"schedule": schedule.public_id},
    )


def lock_payer(session: Session, *, user_id: int) -> Any:
    """The payer's user row, locked (the one lock order: instruction -> user)."""
    return session.execute(
        select(
            User.id,
            User.public_id,
            User.freeze,
            User.status,
            User.edition,
            User.transaction_pin_hash,
            User.failed_pins,
        )
        .where(User.id == user_id)
        .with_for_update()
    ).one()


def strong_confirmation(
    session: Session,
    *,
    user_id: int,
    binding: str,
    transaction_password: str | None,
    code: str | None,
    at: datetime,
    settings: Settings,
    client: Client,
) -> None:
    """The transaction password and a code bound to `binding`, checked on the locked user
    row (`payments.second_factor`, never password-free: a standing instruction is not a
    small payment). Wrong tries are counted with the refusal."""
    user = lock_payer(session, user_id=user_id)
    payments.check_payer(user)
    try:
        _, repeppered = payments.second_factor(
            session,
            user=user,
            user_id=user_id,
            binding=binding,
            password_free=False,
            transaction_password=transaction_password,
            code=code,
            at=at,
            settings=settings,
            client=client,
        )
    except DomainError as refusal:
        refusal.keep = True  # the counted try commits with the refusal, whoever calls
        raise
    values: dict[str, Any] = {"failed_pins": 0}
    if repeppered:
        values["transaction_pin_hash"] = repeppered
    session.execute(update(User).where(User.id == user_id).values(**values))


def confirm(
    session: Session,
    *,
    customer_id: int,
    actor: str,
    schedule_id: str,
    key_digest: str | None,
    transaction_password: str | None,
    code: str | None,
    at: datetime,
    settings: Settings,
    client: Client,
) -> ScheduledTransfer:
    """Activate a pending instruction with both factors; an edit replaces its original
    (whose runs not yet made are skipped) in the same transaction."""
    schedule = get(session, customer_id=customer_id, schedule_id=schedule_id, lock=True)
    _check_pending(schedule, at=at, settings=settings)
    from_number, to_number = _numbers(session, schedule)
    digest = _digest(schedule, from_number=from_number, to_number=to_number)
    if digest != schedule.key_digest or (key_digest is not None and key_digest != digest):
        raise DomainError("transfer_data_changed")
    old = None
    if schedule.replaces_id is not None:
        old = session.scalars(
            select(ScheduledTransfer)
            .where(ScheduledTransfer.id == schedule.replaces_id)
            .with_for_update()
        ).one()
        if old.status not in LIVE:
            raise DomainError("schedule_closed")
    plan = plan_of(schedule)
    first = plan.occurrence(0)
    if first is None or first <= at:
        raise DomainError("schedule_time_invalid", minutes=5)
    strong_confirmation(
        session,
        user_id=schedule.user_id,
        binding=digest,
        transaction_password=transaction_password,
        code=code,
        at=at,
        settings=settings,
        client=client,
    )
    if old is not None:
        _close(session, old, status=REPLACED, at=at)
    schedule.status = ACTIVE
    schedule.confirmed_at = at
    schedule.updated_at = at
    schedule.next_run_at = first
    audit.append(
        session,
        event="schedule_confirmed",
        outcome="success",
        actor=actor,
        at=at,
        client=client,
        customer_id=customer_id,
        details={**_audit_details(schedule, to_number=to_number), "with": "pin+otp"},
    )
    return schedule


def _close(session: Session, schedule: ScheduledTransfer, *, status: str, at: datetime) -> None:
    """End an instruction: its runs not yet made are skipped, with the reason."""
    schedule.status = status
    schedule.next_run_at = None
    schedule.updated_at = at
    session.execute(
        update(ScheduledRun)
        .where(ScheduledRun.schedule_id == schedule.id, ScheduledRun.status.in_((DUE, RETRYING)))
        .values(status=RUN_SKIPPED, reason=f"schedule_{status}", finished_at=at)
    )


def change_state(
    session: Session,
    *,
    customer_id: int,
    actor: str,
    schedule_id: str,
    action: str,
    at: datetime,
    client: Client,
) -> ScheduledTransfer:
    """Pause, resume or cancel. A resumed instruction continues from its next run after
    now: runs that fell due while it was paused are not made (nor counted as made)."""
    schedule = get(session, customer_id=customer_id, schedule_id=schedule_id, lock=True)
    if action == "pause":
        if schedule.status != ACTIVE:
            raise DomainError("schedule_not_active")
        schedule.status = PAUSED
    elif action == "resume":
        if schedule.status != PAUSED:
            raise DomainError("schedule_not_paused")
        plan = plan_of(schedule)
        n = schedule.runs_made
        while (moment := plan.occurrence(n)) is not None and moment <= at:
            n += 1
        if moment is None:
            raise DomainError("schedule_nothing_left")
        schedule.status = ACTIVE
        schedule.runs_made = n
        schedule.next_run_at = moment
    elif action == "cancel":
        if schedule.status not in (*LIVE, PENDING):
            raise DomainError("schedule_closed")
        _close(session, schedule, status=CANCELLED, at=at)
    else:
        raise DomainError("validation_error")
    schedule.updated_at = at
    audit.append(
        session,
        event=f"schedule_{action}",
        outcome="success",
        actor=actor,
        at=at,
        client=client,
        customer_id=customer_id,
        details={"schedule": schedule.public_id},
    )
    return schedule


# --- the worker's side -------------------------------------------------------------------


def create_due_runs(session: Session, *, at: datetime, limit: int = 100) -> int:
    """One run row per instruction whose next run is due, and the instruction moved on to
    the run after. Instructions are locked SKIP LOCKED (another worker takes others); the
    run's (instruction, number) is unique, so a run is never created twice."""
    due = session.scalars(
        select(ScheduledTransfer)
        .where(ScheduledTransfer.status == ACTIVE, ScheduledTransfer.next_run_at <= at)
        .order_by(ScheduledTransfer.next_run_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    for schedule in due:
        assert schedule.next_run_at is not None  # noqa: S101 - selected on it
        schedule.runs_made += 1
        session.add(
            ScheduledRun(
                public_id=new_public_id(),
                schedule_id=schedule.id,
                seq=schedule.runs_made,
                due_at=schedule.next_run_at,
                next_attempt_at=schedule.next_run_at,
                attempts=0,
                status=DUE,
                reason="",
            )
        )
        schedule.next_run_at = plan_of(schedule).occurrence(schedule.runs_made)
        if schedule.next_run_at is None:
            schedule.status = FINISHED
        schedule.updated_at = at
    return len(due)


def claim_run(session: Session, *, at: datetime) -> ScheduledRun | None:
    """The oldest due run nobody else holds (PostgreSQL: FOR UPDATE SKIP LOCKED; SQLite's
    write transaction holds the whole database)."""
    return session.scalars(
        select(ScheduledRun)
        .where(ScheduledRun.status.in_((DUE, RETRYING)), ScheduledRun.next_attempt_at <= at)
        .order_by(ScheduledRun.next_attempt_at, ScheduledRun.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    ).first()


def make_transfer(
    session: Session,
    *,
    customer_id: int,
    user_id: int,
    from_account_id: str,
    to_account_number: str,
    payee_name: str,
    amount_minor: int,
    currency: str,
    remark: str,
    authorized_as: str,
    at: datetime,
    settings: Settings,
) -> tuple[str | None, str]:
    """One execution of a standing instruction (a scheduled run, a batch line) in the
    caller's transaction: prepare + confirm(authorized_as=...), every rule of a transfer
    decided. Returns (the transfer's id, "") or (None, the refusal's code); a refusal
    leaves nothing moved, and a transfer prepared but refused at confirm expired, so
    nobody can confirm it by hand later."""
    prepared = None
    try:
        prepared = payments.prepare(
            session,
            customer_id=customer_id,
            user_id=user_id,
            from_account_id=from_account_id,
            to_account_number=to_account_number,
            payee_name=payee_name,
            amount=format_minor(amount_minor, currency),
            currency=currency,
            remark=remark,
            at=at,
            settings=settings,
            client=Client(client_type=authorized_as),
        )
        payments.confirm(
            session,
            customer_id=customer_id,
            transfer_id=prepared.public_id,
            key_digest=prepared.key_digest,
            at=at,
            settings=settings,
            authorized_as=authorized_as,
        )
    except DomainError as refusal:
        if prepared is not None:
            session.execute(
                update(TransferRequest)
                .where(TransferRequest.public_id == prepared.public_id)
                .values(status=EXPIRED)
            )
        return None, refusal.code
    return prepared.public_id, ""


def execute_run(session: Session, run: ScheduledRun, *, at: datetime, settings: Settings) -> str:
    """Make one claimed run, its outcome written in the same transaction as its transfer.
    Returns the run's new status."""
    schedule = session.get_one(ScheduledTransfer, run.schedule_id)
    customer = session.get_one(Customer, schedule.customer_id)
    source = session.get_one(Account, schedule.from_account_id)
    payee = session.get_one(Account, schedule.to_account_id)
    run.attempts += 1
    if schedule.status not in (ACTIVE, FINISHED):
        # Paused (or ended) since the run was created.
        run.status, run.reason, run.finished_at = RUN_SKIPPED, f"schedule_{schedule.status}", at
        return run.status
    transfer_id, refused = make_transfer(
        session,
        customer_id=schedule.customer_id,
        user_id=schedule.user_id,
        from_account_id=source.public_id,
        to_account_number=payee.account_number,
        payee_name=schedule.payee_name,
        amount_minor=schedule.amount_minor,
        currency=schedule.currency,
        remark=schedule.remark or "预约转账",
        authorized_as="scheduled",
        at=at,
        settings=settings,
    )
    retry_at = at + RETRY_EVERY
    if refused == "insufficient_funds" and bank_date(retry_at) == bank_date(as_utc(run.due_at)):
        run.status, run.reason, run.next_attempt_at = RETRYING, refused, retry_at
        return run.status
    run.status, run.reason, run.finished_at = (
        (RUN_FAILED, refused, at) if refused else (RUN_COMPLETED, "", at)
    )
    run.transfer_public_id = transfer_id
    _text(session, schedule, customer=customer, to_number=payee.account_number, run=run)
    return run.status


MADE = "Your scheduled transfer of {amount} {currency} to the account ending {tail} was made."
NOT_MADE = (
    "Your scheduled transfer of {amount} {currency} to the account ending {tail} could not "
    "be made: {reason}"
)


def _text(
    session: Session,
    schedule: ScheduledTransfer,
    *,
    customer: Customer,
    to_number: str,
    run: ScheduledRun,
) -> None:
    """The run's outcome, texted from the outbox after the commit."""
    fields = {
        "amount": format_grouped(schedule.amount_minor, schedule.currency),
        "currency": schedule.currency,
        "tail": to_number[-4:],
    }
    if run.status == RUN_COMPLETED:
        text = gettext(MADE, schedule.language, **fields)
    else:
        reason = reason_text(run.reason, schedule.language)
        text = gettext(NOT_MADE, schedule.language, **fields, reason=reason)
    notify.enqueue(
        session,
        channel="sms",
        phone=customer.mobile,
        text=text,
        purpose="schedule_result",
        at=run.finished_at or run.next_attempt_at,
    )


CLOSED_REASONS = {
    "schedule_paused": "Not made: the scheduled transfer was paused.",
    "schedule_cancelled": "Not made: the scheduled transfer was cancelled.",
    "schedule_replaced": "Not made: the scheduled transfer was changed.",
    "schedule_finished": "Not made: the scheduled transfer had ended.",
}


def reason_text(code: str, lang: str) -> str:
    """A run's (or a batch line's) refusal in words. The refusal's numbers are not kept,
    so a message's fields read as a dash."""
    if not code:
        return ""
    if code in CLOSED_REASONS:
        return gettext(CLOSED_REASONS[code], lang)
    if code not in ERRORS:
        return code
    template = ERRORS[code][1]
    fields = {name: "-" for _, name, _, _ in Formatter().parse(template) if name}
    return gettext(template, lang, **fields)


def list_schedules(session: Session, *, customer_id: int) -> list[ScheduledTransfer]:
    return list(
        session.scalars(
            select(ScheduledTransfer)
            .where(ScheduledTransfer.customer_id == customer_id)
            .where(ScheduledTransfer.status != REPLACED)
            .order_by(ScheduledTransfer.id.desc())
            .limit(100)
        )
    )


def runs_of(session: Session, *, schedule: ScheduledTransfer) -> list[ScheduledRun]:
    """The runs of an instruction and of the ones it replaced (an edit keeps its history)."""
    ids = [schedule.id]
    current = schedule
    while current.replaces_id is not None and len(ids) < 50:
        ids.append(current.replaces_id)
        current = session.get_one(ScheduledTransfer, current.replaces_id)
    return list(
        session.scalars(
            select(ScheduledRun)
            .where(ScheduledRun.schedule_id.in_(ids))
            .order_by(ScheduledRun.due_at.desc(), ScheduledRun.id.desc())
            .limit(200)
        )
    )


def view(
    session: Session,
    schedule: ScheduledTransfer,
    *,
    lang: str,
    settings: Settings,
    with_runs: bool = False,
) -> dict[str, Any]:
    from_number, to_number = _numbers(session, schedule)
    replaces = (
        session.get_one(ScheduledTransfer, schedule.replaces_id).public_id
        if schedule.replaces_id
        else None
    )
    out: dict[str, Any] = {
        "id": schedule.public_id,
        "status": schedule.status,
        "from_account_number": mask_account_number(from_number),
        "to_account_number": mask_account_number(to_number),
        "payee_name": schedule.payee_name,
        "amount": format_minor(schedule.amount_minor, schedule.currency),
        "currency": schedule.currency,
        "remark": schedule.remark,
        "frequency": schedule.frequency,
        "start_at": as_utc(schedule.start_at).isoformat(),
        "day": schedule.day,
        "end_date": schedule.end_date.isoformat() if schedule.end_date else None,
        "max_runs": schedule.max_runs,
        "runs_made": schedule.runs_made,
        "next_run_at": as_utc(schedule.next_run_at).isoformat() if schedule.next_run_at else None,
        "key_digest": schedule.key_digest,
        "replaces": replaces,
        "created_at": as_utc(schedule.created_at).isoformat(),
        "confirm_by": (
            as_utc(schedule.created_at) + timedelta(seconds=settings.transfer_confirm_seconds)
        ).isoformat(),
        "confirmed_at": as_utc(schedule.confirmed_at).isoformat()
        if schedule.confirmed_at
        else None,
    }
    if with_runs:
        out["runs"] = [
            {
                "id": run.public_id,
                "seq": run.seq,
                "due_at": as_utc(run.due_at).isoformat(),
                "status": run.status,
                "attempts": run.attempts,
                "reason": run.reason,
                "reason_text": reason_text(run.reason, lang),
                "next_attempt_at": as_utc(run.next_attempt_at).isoformat()
                if run.status == RETRYING
                else None,
                "transfer_id": run.transfer_public_id,
                "finished_at": as_utc(run.finished_at).isoformat() if run.finished_at else None,
            }
            for run in runs_of(session, schedule=schedule)
        ]
    return out
