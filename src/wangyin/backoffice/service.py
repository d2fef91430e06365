"""The back office's business actions: staff sign-in with TOTP, staff sessions, staff
management, finding and showing customers (masked unless revealed with a reason), and
the command pipeline (maker-checker). Keyword-only, one unit of work each, never commit.

Every sign-in, sign-out, reveal, proposal and decision is appended to the audit chain,
with `staff:<public id>` as the actor.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from wangyin.accounts import service as accounts
from wangyin.accounts.models import Account, Card
from wangyin.backoffice import actions, permissions, totp
from wangyin.backoffice import errors as _errors  # noqa: F401 - registers the error codes
from wangyin.backoffice.models import Command, StaffSession, StaffUser
from wangyin.clock import as_utc
from wangyin.config import Settings
from wangyin.errors import DomainError
from wangyin.identity import security_center, validators
from wangyin.identity.models import Customer, User
from wangyin.identity.passwords import (
    hash_password,
    rehash_if_needed,
    verify_password,
)
from wangyin.ids import new_public_id, new_token
from wangyin.security import audit
from wangyin.security.audit import Client
from wangyin.security.fields import lookup_hash
from wangyin.security.masking import mask_account_number, mask_card, mask_id_number, mask_mobile

ENROLMENT_MINUTES = 10
_TOUCH_EVERY = timedelta(seconds=60)


def actor_of(staff: StaffUser | CurrentStaff) -> str:
    return f"staff:{staff.public_id}"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _reason(text: str) -> str:
    text = " ".join(text.split())
    if len(text) < 4:
        raise DomainError("reason_required")
    return text[:300]


# ---------------------------------------------------------------------------------------
# Sign-in: password, then the authenticator code (enrolled at the first sign-in)


@dataclass(frozen=True)
class SignIn:
    """A session (token and its CSRF token), or an enrolment to finish with a code: its
    token and the secret, shown this once."""

    token: str | None = None
    csrf_token: str | None = None
    enrolment_token: str | None = None
    totp_secret: str | None = None
    otpauth_uri: str | None = None


def _locked_staff(session: Session, username: str) -> StaffUser | None:
    return session.scalars(
        select(StaffUser)
        .where(StaffUser.username == username.strip())
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()


def _refuse_sign_in(
    session: Session,
    staff: StaffUser | None,
    *,
    at: datetime,
    client: Client,
    settings: Settings,
    reason: str,
) -> DomainError:
    """Count the failure under the staff row's lock and audit it; the refusal commits
    (`keep`) so the count stands."""
    if staff is not None:
        staff.failed_logins += 1
        if staff.failed_logins >= settings.backoffice_login_max_failures:
            staff.locked_until = at + timedelta(minutes=settings.backoffice_login_lock_minutes)
            staff.failed_logins = 0
    audit.append(
        session,
        event="staff_sign_in",
        outcome="failure",
        actor=actor_of(staff) if staff else "unknown",
        at=at,
        client=client,
        details={"reason": reason},
    )
    error = DomainError("staff_invalid_credentials")
    error.keep = True
    return error


def sign_in(
    session: Session,
    *,
    username: str,
    password: str,
    code: str,
    client: Client,
    at: datetime,
    settings: Settings,
) -> SignIn:
    """The password and the current authenticator code; a staff member without an
    enrolled authenticator gets a new secret to enrol (shown once) instead of a session."""
    staff = _locked_staff(session, username)
    password_ok = verify_password(staff.password_hash if staff else None, password)
    if staff is not None and staff.locked_until and as_utc(staff.locked_until) > at:
        audit.append(
            session,
            event="staff_sign_in",
            outcome="refused",
            actor=actor_of(staff),
            at=at,
            client=client,
            details={"reason": "locked"},
        )
        error = DomainError("staff_locked", until=as_utc(staff.locked_until).isoformat())
        error.keep = True
        raise error
    if staff is None or not password_ok or staff.status != "active":
        raise _refuse_sign_in(
            session, staff, at=at, client=client, settings=settings, reason="password"
        )
    repeppered = rehash_if_needed(staff.password_hash, password)
    if repeppered:
        staff.password_hash = repeppered
    if staff.totp_enrolled_at is None:
        return _start_enrolment(session, staff, at=at)
    if not _code_ok(staff, code, at=at):
        raise _refuse_sign_in(
            session, staff, at=at, client=client, settings=settings, reason="totp"
        )
    return _open_session(session, staff, at=at, client=client, settings=settings)


def _code_ok(staff: StaffUser, code: str, *, at: datetime) -> bool:
    secret = totp.unseal(staff.totp_secret or "", staff_public_id=staff.public_id)
    if secret is None:
        return False
    step = totp.matched_step(secret, code.strip(), at=at, after_step=staff.totp_last_step)
    if step is None:
        return False
    staff.totp_last_step = step
    return True


def _start_enrolment(session: Session, staff: StaffUser, *, at: datetime) -> SignIn:
    """A new secret every time (an enrolment never finished is replaced)."""
    secret = totp.new_secret()
    token = new_token()
    staff.totp_secret = totp.seal(secret, staff_public_id=staff.public_id)
    staff.totp_last_step = 0
    staff.enrolment_hash = _hash(token)
    staff.enrolment_expires_at = at + timedelta(minutes=ENROLMENT_MINUTES)
    return SignIn(
        enrolment_token=token,
        totp_secret=secret,
        otpauth_uri=totp.provisioning_uri(secret, username=staff.username),
    )


def finish_enrolment(
    session: Session,
    *,
    enrolment_token: str,
    code: str,
    new_password: str,
    client: Client,
    at: datetime,
    settings: Settings,
) -> SignIn:
    """The first code from the new authenticator proves it holds the secret; the member
    of staff replaces the one-time password the administrator handed over by their own,
    which nobody else has seen."""
    staff = session.scalars(
        select(StaffUser)
        .where(StaffUser.enrolment_hash == _hash(enrolment_token))
        .with_for_update()
    ).first()
    if (
        staff is None
        or staff.enrolment_expires_at is None
        or as_utc(staff.enrolment_expires_at) <= at
        or staff.status != "active"
    ):
        raise DomainError("enrolment_not_found")
    validators.check_password_policy(new_password, username=staff.username)
    if verify_password(staff.password_hash, new_password):
        raise DomainError("password_reused")
    if not _code_ok(staff, code, at=at):
        raise _refuse_sign_in(
            session, staff, at=at, client=client, settings=settings, reason="totp_enrolment"
        )
    staff.password_hash = hash_password(new_password)
    staff.totp_enrolled_at = at
    staff.enrolment_hash = None
    staff.enrolment_expires_at = None
    audit.append(
        session, event="staff_totp_enrolled", outcome="success", actor=actor_of(staff), at=at,
        client=client,
    )
    return _open_session(session, staff, at=at, client=client, settings=settings)


def _open_session(
    session: Session, staff: StaffUser, *, at: datetime, client: Client, settings: Settings
) -> SignIn:
    staff.failed_logins = 0
    staff.locked_until = None
    token = new_token()
    csrf = secrets.token_urlsafe(24)
    session.add(
        StaffSession(
            token_hash=_hash(token),
            staff_id=staff.id,
            csrf_token=csrf,
            ip=client.ip[:64],
            user_agent=client.user_agent[:300],
            created_at=at,
            last_seen_at=at,
            expires_at=at + timedelta(hours=settings.backoffice_session_absolute_hours),
        )
    )
    audit.append(
        session, event="staff_sign_in", outcome="success", actor=actor_of(staff), at=at,
        client=client, details={"role": staff.role},
    )
    return SignIn(token=token, csrf_token=csrf)


@dataclass(frozen=True)
class CurrentStaff:
    staff_id: int
    public_id: str
    username: str
    name: str
    role: str
    session_id: int
    csrf_token: str
    touch_due: bool


def resolve_session(
    session: Session, *, token: str, at: datetime, settings: Settings
) -> CurrentStaff | None:
    """The staff member behind a token, or None: unknown, ended, expired, idle too long,
    or the staff member disabled."""
    row = session.execute(
        select(StaffSession, StaffUser)
        .join(StaffUser, StaffUser.id == StaffSession.staff_id)
        .where(StaffSession.token_hash == _hash(token))
    ).first()
    if row is None:
        return None
    staff_session, staff = row
    idle = timedelta(minutes=settings.backoffice_session_idle_minutes)
    if (
        staff_session.ended_at is not None
        or at >= as_utc(staff_session.expires_at)
        or at - as_utc(staff_session.last_seen_at) > idle
        or staff.status != "active"
    ):
        return None
    return CurrentStaff(
        staff_id=staff.id,
        public_id=staff.public_id,
        username=staff.username,
        name=staff.name,
        role=staff.role,
        session_id=staff_session.id,
        csrf_token=staff_session.csrf_token,
        touch_due=at - as_utc(staff_session.last_seen_at) > _TOUCH_EVERY,
    )


def touch_session(session: Session, *, session_id: int, at: datetime) -> None:
    session.execute(
        update(StaffSession).where(StaffSession.id == session_id).values(last_seen_at=at)
    )


def sign_out(session: Session, *, staff: CurrentStaff, client: Client, at: datetime) -> None:
    session.execute(
        update(StaffSession)
        .where(StaffSession.id == staff.session_id, StaffSession.ended_at.is_(None))
        .values(ended_at=at)
    )
    audit.append(
        session, event="staff_sign_out", outcome="success", actor=actor_of(staff), at=at,
        client=client,
    )


# ---------------------------------------------------------------------------------------
# Staff management (administrators)


@dataclass(frozen=True)
class NewStaff:
    public_id: str
    username: str
    initial_password: str  # shown once to the administrator, handed over sealed


def _one_time_password() -> str:
    """96 random bits, with a symbol and digits so it meets the password policy too."""
    return f"{secrets.token_urlsafe(12)}-{secrets.randbelow(90) + 10}"


def create_staff(
    session: Session,
    *,
    username: str,
    name: str,
    role: str,
    by: CurrentStaff,
    client: Client,
    at: datetime,
) -> NewStaff:
    """A new member of staff with a one-time initial password; their authenticator is
    enrolled at their first sign-in, by them."""
    if role not in permissions.ROLES:
        raise DomainError("validation_error")
    validators_username = username.strip()
    if session.scalars(
        select(StaffUser.id).where(StaffUser.username == validators_username)
    ).first():
        raise DomainError("staff_username_taken")
    password = _one_time_password()
    staff = StaffUser(
        public_id=new_public_id(),
        username=validators_username,
        name=name.strip(),
        role=role,
        status="active",
        password_hash=hash_password(password),
        totp_last_step=0,
        failed_logins=0,
        created_at=at,
    )
    session.add(staff)
    session.flush()
    audit.append(
        session, event="staff_created", outcome="success", actor=actor_of(by), at=at,
        client=client, details={"staff": staff.public_id, "role": role},
    )
    return NewStaff(staff.public_id, staff.username, password)


def _staff(session: Session, public_id: str) -> StaffUser:
    staff = session.scalars(
        select(StaffUser).where(StaffUser.public_id == public_id).with_for_update()
    ).first()
    if staff is None:
        raise DomainError("staff_not_found")
    return staff


def _end_sessions(session: Session, staff: StaffUser, *, at: datetime) -> None:
    session.execute(
        update(StaffSession)
        .where(StaffSession.staff_id == staff.id, StaffSession.ended_at.is_(None))
        .values(ended_at=at)
    )


def disable_staff(
    session: Session, *, staff_id: str, by: CurrentStaff, client: Client, at: datetime
) -> None:
    staff = _staff(session, staff_id)
    staff.status = "disabled"
    _end_sessions(session, staff, at=at)
    audit.append(
        session, event="staff_disabled", outcome="success", actor=actor_of(by), at=at,
        client=client, details={"staff": staff.public_id},
    )


def reset_staff(
    session: Session, *, staff_id: str, by: CurrentStaff, client: Client, at: datetime
) -> NewStaff:
    """A new one-time password, and the authenticator enrolled again at the next
    sign-in (a lost phone); every session of theirs ends."""
    staff = _staff(session, staff_id)
    password = _one_time_password()
    staff.password_hash = hash_password(password)
    staff.totp_secret = None
    staff.totp_enrolled_at = None
    staff.totp_last_step = 0
    staff.failed_logins = 0
    staff.locked_until = None
    staff.status = "active"
    _end_sessions(session, staff, at=at)
    audit.append(
        session, event="staff_reset", outcome="success", actor=actor_of(by), at=at,
        client=client, details={"staff": staff.public_id},
    )
    return NewStaff(staff.public_id, staff.username, password)


def list_staff(session: Session) -> list[StaffUser]:
    return list(session.scalars(select(StaffUser).order_by(StaffUser.username)))


# ---------------------------------------------------------------------------------------
# Customers at the counter (4.1.5.1): found by a keyed look-up hash, never by decrypting

SEARCH_BY = ("id_number", "mobile", "card", "account")


def find_customers(
    session: Session,
    *,
    by: str,
    query: str,
    staff: CurrentStaff,
    client: Client,
    at: datetime,
) -> list[Customer]:
    """The customer with this ID number, mobile, card or account number (one, or none).
    Every search is audited: who looked for what kind of number, and whom it found (the
    number itself is not written down)."""
    found = _find_customers(session, by=by, query=query)
    audit.append(
        session,
        event="staff_customer_searched",
        outcome="success" if found else "failure",
        actor=actor_of(staff),
        at=at,
        client=client,
        customer_id=found[0].id if len(found) == 1 else None,
        details={"by": by, "found": len(found)},
    )
    return found


def _find_customers(session: Session, *, by: str, query: str) -> list[Customer]:
    query = "".join(query.split())
    if by == "id_number":
        try:
            value = validators.normalize_id_number(query)
        except DomainError:
            return []
        where: Any = Customer.id_number_hash == lookup_hash(value)
    elif by == "mobile":
        where = Customer.mobile_hash == lookup_hash(query)
    elif by == "card":
        card = session.scalars(select(Card).where(Card.number_hash == lookup_hash(query))).first()
        if card is None:
            return []
        where = Customer.id == card.customer_id
    elif by == "account":
        account = session.scalars(
            select(Account).where(Account.account_number == query)
        ).first()
        if account is None:
            return []
        where = Customer.id == account.customer_id
    else:
        raise DomainError("validation_error")
    return list(session.scalars(select(Customer).where(where).limit(10)))


def customer_by_public_id(session: Session, public_id: str) -> Customer:
    customer = session.scalars(select(Customer).where(Customer.public_id == public_id)).first()
    if customer is None:
        raise DomainError("customer_not_found")
    return customer


def user_of(session: Session, customer: Customer) -> User | None:
    return session.scalars(select(User).where(User.customer_id == customer.id)).first()


@dataclass(frozen=True)
class Profile:
    customer_public_id: str
    name: str
    id_number: str
    mobile: str
    revealed: bool
    online_banking: dict[str, Any] | None
    accounts: list[dict[str, Any]]
    devices: list[dict[str, Any]]
    logins: list[dict[str, Any]]
    operations: list[dict[str, Any]]
    commands: list[Command]


def profile(
    session: Session,
    *,
    customer_id: str,
    staff: CurrentStaff,
    client: Client,
    at: datetime,
    settings: Settings,
    reveal_reason: str | None = None,
) -> Profile:
    """What the counter sees of a customer, masked; with `reveal_reason` the full ID
    number, mobile, card and account numbers, and that reveal is audited with its reason
    (5.4.2-a/b/l). Every look is audited."""
    customer = customer_by_public_id(session, customer_id)
    revealed = reveal_reason is not None
    reason = _reason(reveal_reason) if reveal_reason is not None else ""
    user = user_of(session, customer)
    views = accounts.list_accounts(session, customer_id=customer.id)

    def shown(value: str, mask: Any) -> str:
        return value if revealed else str(mask(value))

    online = None
    devices: list[dict[str, Any]] = []
    logins: list[dict[str, Any]] = []
    if user is not None:
        limits = security_center.effective_limits(user, settings)
        online = {
            "username": user.username,
            "edition": user.edition,
            "status": user.status,
            "freeze": user.freeze,
            "locked": bool(user.locked_until and as_utc(user.locked_until) > at),
            "single_limit_minor": limits.single_minor,
            "daily_limit_minor": limits.daily_minor,
        }
        devices = [
            {
                "public_id": d.public_id,
                "label": d.label,
                "bound_at": as_utc(d.bound_at),
                "last_seen_at": as_utc(d.last_seen_at),
            }
            for d in security_center.devices(session, user_id=user.id)
        ]
        logins = [
            {
                "at": as_utc(s.created_at),
                "ip": s.ip,
                "client_type": s.client_type,
                "os_version": s.os_version,
                "device_id": s.device_id,
            }
            for s in security_center.login_history(session, user_id=user.id)
        ]
    operations = [
        {"at": as_utc(r.at), "event": r.event, "outcome": r.outcome, "ip": r.ip}
        for r in security_center.operation_log(session, customer_id=customer.id, limit=50)
    ]
    audit.append(
        session,
        event="staff_customer_revealed" if revealed else "staff_customer_viewed",
        outcome="success",
        actor=actor_of(staff),
        at=at,
        client=client,
        customer_id=customer.id,
        details={"reason": reason} if revealed else {},
    )
    return Profile(
        customer_public_id=customer.public_id,
        name=customer.name,
        id_number=shown(customer.id_number, mask_id_number),
        mobile=shown(customer.mobile, mask_mobile),
        revealed=revealed,
        online_banking=online,
        accounts=[
            {
                "public_id": v.public_id,
                "account_number": shown(v.account_number, mask_account_number),
                "card_number": shown(v.card_number, mask_card) if v.card_number else None,
                "kind": v.kind,
                "currency": v.currency,
                "status": v.status,
                "balance": v.balance,
                "available": v.available,
            }
            for v in views
        ],
        devices=devices,
        logins=logins,
        operations=operations,
        commands=list(
            session.scalars(
                select(Command)
                .where(Command.customer_id == customer.id)
                .order_by(Command.id.desc())
                .limit(20)
            )
        ),
    )


# ---------------------------------------------------------------------------------------
# The command pipeline (maker-checker)


def propose(
    session: Session,
    *,
    customer_id: str | None,
    kind: str,
    payload: dict[str, Any],
    reason: str,
    staff: CurrentStaff,
    client: Client,
    at: datetime,
    settings: Settings,
) -> Command:
    """The maker's proposal, checked now (so a checker never approves what cannot run).
    A kind that needs no checker runs at once, in this transaction. `customer_id` None:
    a kind about no customer (risk control's blacklist changes)."""
    if not permissions.allowed(staff.role, f"propose.{kind}"):
        raise DomainError("staff_forbidden")
    handler = actions.handler(kind)
    customer = customer_by_public_id(session, customer_id) if customer_id is not None else None
    if kind in permissions.DIRECT_KINDS and customer is not None:
        actions.lock_target(session, customer)  # before the audit head (rule 3's order)
    clean = handler.validate(session, customer=customer, payload=payload, settings=settings)
    command = Command(
        public_id=new_public_id(),
        kind=kind,
        customer_id=customer.id if customer is not None else None,
        payload=json.dumps(clean, ensure_ascii=False, sort_keys=True, separators=(",", ":")),
        reason=_reason(reason),
        status="PENDING",
        maker_id=staff.staff_id,
        checker_reason="",
        created_at=at,
    )
    session.add(command)
    session.flush()
    audit.append(
        session, event="command_proposed", outcome="success", actor=actor_of(staff), at=at,
        client=client, customer_id=command.customer_id,
        details={"command": command.public_id, "kind": kind, "reason": command.reason},
    )
    if kind in permissions.DIRECT_KINDS:
        _execute(session, command, customer=customer, staff=staff, client=client, at=at,
                 settings=settings)
    return command


def _locked_command(session: Session, command_id: str) -> Command:
    """The command under its row lock, as it is now: two checkers deciding at once queue
    here, and the second finds it decided."""
    command = session.scalars(
        select(Command)
        .where(Command.public_id == command_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()
    if command is None:
        raise DomainError("command_not_found")
    return command


def _checkable(command: Command, staff: CurrentStaff) -> None:
    if command.status != "PENDING":
        raise DomainError("command_not_pending")
    if command.maker_id == staff.staff_id:
        raise DomainError("own_command")
    if not permissions.approves(staff.role, command.kind):
        raise DomainError("staff_forbidden")


def approve(
    session: Session,
    *,
    command_id: str,
    reason: str,
    staff: CurrentStaff,
    client: Client,
    at: datetime,
    settings: Settings,
) -> Command:
    """A different staff member with the right role approves: the command runs once,
    under its row lock, in this transaction."""
    command = _locked_command(session, command_id)
    _checkable(command, staff)
    command.checker_id = staff.staff_id
    command.checker_reason = _reason(reason)
    command.decided_at = at
    customer = (
        session.get_one(Customer, command.customer_id) if command.customer_id is not None else None
    )
    # The customer's rows before the audit chain's head, as the customer's own actions
    # take them: no lock cycle with them (ARCHITECTURE rule 3).
    if customer is not None:
        actions.lock_target(session, customer)
    audit.append(
        session, event="command_approved", outcome="success", actor=actor_of(staff), at=at,
        client=client, customer_id=command.customer_id,
        details={"command": command.public_id, "kind": command.kind,
                 "reason": command.checker_reason},
    )
    _execute(session, command, customer=customer, staff=staff, client=client, at=at,
             settings=settings)
    return command


def reject(
    session: Session,
    *,
    command_id: str,
    reason: str,
    staff: CurrentStaff,
    client: Client,
    at: datetime,
) -> Command:
    command = _locked_command(session, command_id)
    _checkable(command, staff)
    command.status = "REJECTED"
    command.checker_id = staff.staff_id
    command.checker_reason = _reason(reason)
    command.decided_at = at
    audit.append(
        session, event="command_rejected", outcome="success", actor=actor_of(staff), at=at,
        client=client, customer_id=command.customer_id,
        details={"command": command.public_id, "kind": command.kind,
                 "reason": command.checker_reason},
    )
    return command


def _execute(
    session: Session,
    command: Command,
    *,
    customer: Customer | None,
    staff: CurrentStaff,
    client: Client,
    at: datetime,
    settings: Settings,
) -> None:
    handler = actions.handler(command.kind)
    handler.execute(
        session,
        customer=customer,
        payload=json.loads(command.payload),
        context=actions.Context(actor=actor_of(staff), client=client, at=at, settings=settings),
    )
    command.status = "EXECUTED"
    command.executed_at = at
    audit.append(
        session, event="command_executed", outcome="success", actor=actor_of(staff), at=at,
        client=client, customer_id=command.customer_id,
        details={"command": command.public_id, "kind": command.kind},
    )


def list_commands(session: Session, *, status: str | None = None, limit: int = 50) -> list[Command]:
    query = select(Command).order_by(Command.id.desc()).limit(limit)
    if status:
        query = query.where(Command.status == status)
    return list(session.scalars(query))


def get_command(session: Session, *, command_id: str) -> Command:
    command = session.scalars(select(Command).where(Command.public_id == command_id)).first()
    if command is None:
        raise DomainError("command_not_found")
    return command


def staff_names(session: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    return dict(
        session.execute(
            select(StaffUser.id, StaffUser.username).where(StaffUser.id.in_(ids))
        ).all()
    )


def customer_public_ids(session: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    return dict(
        session.execute(select(Customer.id, Customer.public_id).where(Customer.id.in_(ids))).all()
    )


def staff_audit(session: Session, *, limit: int = 100) -> list[Any]:
    """The newest back-office events of the audit chain (for auditors)."""
    from wangyin.security.models import AuditRecord

    return list(
        session.scalars(
            select(AuditRecord)
            .where(AuditRecord.actor.like("staff:%"))
            .order_by(AuditRecord.at.desc(), AuditRecord.id.desc())
            .limit(limit)
        )
    )
