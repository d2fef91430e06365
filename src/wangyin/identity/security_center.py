"""The customer's own security settings (5.1.2-g, 4.4-c1): devices, limits, small
password-free payments, freezing, login history and the operation log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from wangyin.config import Settings
from wangyin.errors import DomainError
from wangyin.identity import devices as devices_
from wangyin.identity import otp, validators
from wangyin.identity import service as identity
from wangyin.identity.models import Customer, Device, User, UserSession
from wangyin.identity.passwords import rehash_if_needed, verify_password
from wangyin.money import format_grouped
from wangyin.security import audit
from wangyin.security.audit import Client
from wangyin.security.fields import lookup_hash
from wangyin.security.models import AuditRecord


@dataclass(frozen=True)
class Limits:
    single_minor: int
    daily_minor: int
    password_free_single_minor: int
    password_free_daily_minor: int


class HasLimits(Protocol):
    """A user row, or the limit columns read from it on the transfer path."""

    @property
    def single_limit_minor(self) -> int | None: ...
    @property
    def daily_limit_minor(self) -> int | None: ...
    @property
    def password_free_single_minor(self) -> int: ...
    @property
    def password_free_daily_minor(self) -> int: ...


def effective_limits(user: HasLimits, settings: Settings) -> Limits:
    """The customer's own limits (the modest defaults until they set theirs), never above
    the bank's maxima."""
    return Limits(
        single_minor=min(
            user.single_limit_minor or settings.default_single_transfer_limit_minor,
            settings.single_transfer_limit_minor,
        ),
        daily_minor=min(
            user.daily_limit_minor or settings.default_daily_transfer_limit_minor,
            settings.daily_transfer_limit_minor,
        ),
        password_free_single_minor=min(
            user.password_free_single_minor, settings.password_free_single_max_minor
        ),
        password_free_daily_minor=min(
            user.password_free_daily_minor, settings.password_free_daily_max_minor
        ),
    )


def _at_most(value: int, maximum: int) -> int:
    if value > maximum:
        raise DomainError("limit_above_bank_maximum", limit=format_grouped(maximum, "CNY"))
    return value


def _step_up(
    session: Session,
    *,
    user: User,
    raising: bool,
    code: str | None,
    at: datetime,
    settings: Settings,
    client: Client | None = None,
) -> None:
    """Raising what a session alone may move needs a fresh code (ASVS 7.5.3); lowering
    never does. A wrong code is counted in this transaction (`otp.check`)."""
    if not raising:
        return
    if not code:
        raise DomainError("step_up_required")
    otp.check(
        session,
        user_id=user.id,
        purpose="settings",
        binding=user.public_id,
        code=code,
        at=at,
        settings=settings,
        client=client,
    )


def set_limits(
    session: Session,
    *,
    user_id: int,
    single_minor: int,
    daily_minor: int,
    client: Client,
    at: datetime,
    settings: Settings,
    code: str | None = None,
    staff: str | None = None,
) -> None:
    """`staff`: set at the counter by this staff actor after the customer's identity was
    checked there and a checker approved it (backoffice), so no code is asked."""
    user = session.get_one(User, user_id)
    current = effective_limits(user, settings)
    _step_up(
        session,
        user=user,
        raising=staff is None
        and (single_minor > current.single_minor or daily_minor > current.daily_minor),
        code=code,
        at=at,
        settings=settings,
        client=client,
    )
    user.single_limit_minor = _at_most(single_minor, settings.single_transfer_limit_minor)
    user.daily_limit_minor = _at_most(daily_minor, settings.daily_transfer_limit_minor)
    audit.append(
        session,
        event="limits_changed",
        outcome="success",
        actor=staff or user.public_id,
        at=at,
        client=client,
        customer_id=user.customer_id,
        details={"single_minor": single_minor, "daily_minor": daily_minor},
    )


def set_password_free(
    session: Session,
    *,
    user_id: int,
    single_minor: int,
    daily_minor: int,
    client: Client,
    at: datetime,
    settings: Settings,
    code: str | None = None,
) -> None:
    """0 turns small password-free payments off."""
    user = session.get_one(User, user_id)
    current = effective_limits(user, settings)
    _step_up(
        session,
        user=user,
        raising=(
            single_minor > current.password_free_single_minor
            or daily_minor > current.password_free_daily_minor
        ),
        code=code,
        at=at,
        settings=settings,
        client=client,
    )
    user.password_free_single_minor = _at_most(
        single_minor, settings.password_free_single_max_minor
    )
    user.password_free_daily_minor = _at_most(daily_minor, settings.password_free_daily_max_minor)
    audit.append(
        session,
        event="password_free_changed",
        outcome="success",
        actor=user.public_id,
        at=at,
        client=client,
        customer_id=user.customer_id,
        details={"single_minor": single_minor, "daily_minor": daily_minor},
    )


def freeze(
    session: Session,
    *,
    user_id: int,
    scope: str,
    client: Client,
    at: datetime,
    actor: str | None = None,
) -> None:
    """Self-service freeze: 'transfers' or 'all' (logging in to unfreeze still works).
    `actor`: staff freezing it at the counter (backoffice), else the customer."""
    if scope not in ("transfers", "all"):
        raise DomainError("validation_error")
    user = session.get_one(User, user_id)
    if user.freeze == "all" and scope == "transfers":
        return  # already frozen wider
    user.freeze = scope
    audit.append(
        session,
        event="frozen",
        outcome="success",
        actor=actor or user.public_id,
        at=at,
        client=client,
        customer_id=user.customer_id,
        details={"scope": scope},
    )


def send_code(
    session: Session,
    *,
    user_id: int,
    purpose: str,
    channel: str,
    client: Client,
    at: datetime,
    settings: Settings,
) -> None:
    """A code bound to the customer, for unfreezing ("unfreeze") or for raising limits and
    turning on password-free payments ("settings")."""
    if purpose not in ("settings", "unfreeze"):
        raise ValueError(f"not a security-center code: {purpose!r}")
    user = session.get_one(User, user_id)
    otp.issue(
        session,
        user=user,
        purpose=purpose,
        binding=user.public_id,
        channel=channel,
        at=at,
        settings=settings,
        client=client,
    )


def unfreeze(
    session: Session,
    *,
    user_id: int,
    code: str,
    client: Client,
    at: datetime,
    settings: Settings,
    transaction_password: str | None = None,
    id_number: str | None = None,
) -> None:
    """Unfreeze with the "unfreeze" code and a second thing the customer knows: the
    transaction password, or (when that is what locked) the ID number (issue 11 #13). A
    session and the phone's SMS alone are not enough.

    Each try counts against the code before anything is compared, under the user row's
    and the code's locks, and a wrong code or factor commits that count with its refusal;
    a wrong transaction password with the right code also counts as a wrong PIN."""
    if not transaction_password and not id_number:
        raise DomainError("unfreeze_factor_required")
    row = otp.take_try(
        session,
        user_id=user_id,
        purpose="unfreeze",
        binding=_public_id(session, user_id),
        at=at,
        settings=settings,
    )
    if not otp.matches(row, code=code, settings=settings):
        raise otp.refusal(session, row, at=at, client=client)
    user = session.get_one(User, user_id, populate_existing=True)
    if transaction_password:
        if not verify_password(user.transaction_pin_hash, transaction_password):
            identity.record_pin_failure(session, user_id=user_id, client=client, at=at)
            raise otp.refusal(session, row, at=at, client=client, code="wrong_transaction_password")
        repeppered = rehash_if_needed(user.transaction_pin_hash or "", transaction_password)
        if repeppered:  # a hash from before the pepper, or under an older one
            user.transaction_pin_hash = repeppered
    else:
        customer = session.get_one(Customer, user.customer_id)
        try:
            normalized = validators.normalize_id_number(id_number or "")
        except DomainError:
            normalized = ""
        if not normalized or lookup_hash(normalized) != customer.id_number_hash:
            raise otp.refusal(session, row, at=at, client=client, code="wrong_id_number")
    otp.accept(session, row, at=at)
    user.freeze = "none"
    user.failed_pins = 0
    audit.append(
        session,
        event="unfrozen",
        outcome="success",
        actor=user.public_id,
        at=at,
        client=client,
        customer_id=user.customer_id,
        details={"with": "transaction_password" if transaction_password else "id_number"},
    )


def _public_id(session: Session, user_id: int) -> str:
    return session.get_one(User, user_id).public_id


def devices(session: Session, *, user_id: int) -> list[Device]:
    return list(
        session.scalars(
            select(Device)
            .where(Device.user_id == user_id, Device.removed_at.is_(None))
            .order_by(Device.bound_at.desc())
        )
    )


def remove_device(
    session: Session, *, user_id: int, device_public_id: str, client: Client, at: datetime
) -> None:
    device = session.scalars(select(Device).where(Device.public_id == device_public_id)).first()
    if device is None or device.user_id != user_id or device.removed_at is not None:
        raise DomainError("device_not_found")
    devices_.remove(device, at=at)  # its credential counts no more
    user = session.get_one(User, user_id)
    audit.append(
        session,
        event="device_removed",
        outcome="success",
        actor=user.public_id,
        at=at,
        client=client,
        customer_id=user.customer_id,
    )


def login_history(session: Session, *, user_id: int, limit: int = 20) -> list[UserSession]:
    return list(
        session.scalars(
            select(UserSession)
            .where(UserSession.user_id == user_id)
            .order_by(UserSession.id.desc())
            .limit(limit)
        )
    )


def operation_log(session: Session, *, customer_id: int, limit: int = 100) -> list[AuditRecord]:
    return audit.customer_log(session, customer_id=customer_id, limit=limit)
