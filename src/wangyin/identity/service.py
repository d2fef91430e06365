"""Registration, login, sessions and password changes."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from wangyin.accounts.models import Card
from wangyin.clock import as_utc
from wangyin.config import Settings
from wangyin.errors import DomainError
from wangyin.identity import validators
from wangyin.identity.models import Customer, User, UserSession
from wangyin.identity.passwords import hash_password, needs_rehash, verify_password
from wangyin.ids import new_public_id, new_token
from wangyin.security.fields import lookup_hash

# Touch a session's last-seen time at most this often: a read then needs no write.
_TOUCH_EVERY = timedelta(seconds=60)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def register(
    session: Session,
    *,
    name: str,
    id_number: str,
    mobile: str,
    card_number: str,
    username: str,
    password: str,
    at: datetime,
) -> User:
    """Self-registration (public edition): prove you are the holder of one of our cards."""
    id_number = validators.normalize_id_number(id_number)
    mobile = validators.normalize_mobile(mobile)
    card_number = validators.normalize_card_number(card_number)
    username = validators.normalize_username(username)
    validators.check_password_policy(
        password, id_number=id_number, mobile=mobile, username=username
    )

    customer = session.scalars(
        select(Customer).where(Customer.id_number_hash == lookup_hash(id_number))
    ).first()
    card = session.scalars(select(Card).where(Card.number_hash == lookup_hash(card_number))).first()
    # One message for every mismatch: registration must not confirm whose card it is.
    if (
        customer is None
        or card is None
        or card.customer_id != customer.id
        or card.status != "active"
        or customer.name != name.strip()
        or customer.mobile != mobile
    ):
        raise DomainError("card_not_found")
    if session.scalars(select(User.id).where(User.customer_id == customer.id)).first():
        raise DomainError("already_registered")
    if session.scalars(select(User.id).where(User.username == username)).first():
        raise DomainError("username_taken")

    user = User(
        public_id=new_public_id(),
        customer_id=customer.id,
        username=username,
        password_hash=hash_password(password),
        edition="public",
        status="active",
        created_at=at,
        password_changed_at=at,
    )
    session.add(user)
    session.flush()
    return user


def find_user(session: Session, *, login: str) -> User | None:
    """A login is the login name or the reserved mobile number (5.2.4-d)."""
    login = login.strip()
    if login.isdigit():
        return session.scalars(
            select(User)
            .join(Customer, Customer.id == User.customer_id)
            .where(Customer.mobile_hash == lookup_hash(login))
        ).first()
    return session.scalars(select(User).where(User.username == login)).first()


def authenticate(session: Session, *, login: str, password: str) -> User:
    user = find_user(session, login=login)
    ok = verify_password(user.password_hash if user else None, password)
    if user is None or not ok:
        raise DomainError("invalid_credentials")
    if user.status != "active":
        raise DomainError("customer_inactive")
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user


@dataclass(frozen=True)
class NewSession:
    token: str
    csrf_token: str
    expires_at: datetime


def start_session(
    session: Session,
    *,
    user: User,
    client_type: str,
    ip: str,
    user_agent: str,
    at: datetime,
    settings: Settings,
) -> NewSession:
    token = new_token()
    csrf = secrets.token_urlsafe(24)
    expires = at + timedelta(hours=settings.session_absolute_hours)
    session.add(
        UserSession(
            token_hash=_token_hash(token),
            user_id=user.id,
            csrf_token=csrf,
            client_type=client_type,
            ip=ip[:64],
            user_agent=user_agent[:300],
            created_at=at,
            last_seen_at=at,
            expires_at=expires,
        )
    )
    session.flush()
    return NewSession(token=token, csrf_token=csrf, expires_at=expires)


@dataclass(frozen=True)
class CurrentUser:
    user_id: int
    user_public_id: str
    customer_id: int
    customer_public_id: str
    name: str
    username: str
    edition: str
    session_id: int
    csrf_token: str
    touch_due: bool = False


def resolve_session(
    session: Session, *, token: str, at: datetime, settings: Settings
) -> CurrentUser | None:
    """The logged-in user behind a token, or None when it is unknown, ended or timed out.
    Read-only: the caller runs `touch_session` when `touch_due` says so."""
    row = session.execute(
        select(UserSession, User, Customer)
        .join(User, User.id == UserSession.user_id)
        .join(Customer, Customer.id == User.customer_id)
        .where(UserSession.token_hash == _token_hash(token))
    ).first()
    if row is None:
        return None
    record, user, customer = row
    idle_limit = timedelta(minutes=settings.session_idle_minutes)
    if (
        record.ended_at is not None
        or at >= as_utc(record.expires_at)
        or at - as_utc(record.last_seen_at) > idle_limit
        or user.status != "active"
    ):
        return None
    return CurrentUser(
        user_id=user.id,
        user_public_id=user.public_id,
        customer_id=customer.id,
        customer_public_id=customer.public_id,
        name=customer.name,
        username=user.username,
        edition=user.edition,
        session_id=record.id,
        csrf_token=record.csrf_token,
        touch_due=at - as_utc(record.last_seen_at) > _TOUCH_EVERY,
    )


def touch_session(session: Session, *, session_id: int, at: datetime) -> None:
    """Record activity for the idle timeout (at most once a minute per session)."""
    session.execute(update(UserSession).where(UserSession.id == session_id).values(last_seen_at=at))


def end_session(session: Session, *, token: str, at: datetime) -> None:
    session.execute(
        update(UserSession)
        .where(UserSession.token_hash == _token_hash(token), UserSession.ended_at.is_(None))
        .values(ended_at=at)
    )


def change_password(
    session: Session,
    *,
    user_id: int,
    old_password: str,
    new_password: str,
    keep_session_id: int | None,
    at: datetime,
) -> None:
    """5.1.1-d: the old password stops working at once and every other session ends."""
    user = session.get(User, user_id)
    if user is None:
        raise DomainError("not_authenticated")
    if not verify_password(user.password_hash, old_password):
        raise DomainError("wrong_password")
    if old_password == new_password:
        raise DomainError("password_reused")
    customer = session.get_one(Customer, user.customer_id)
    validators.check_password_policy(
        new_password,
        id_number=customer.id_number,
        mobile=customer.mobile,
        username=user.username,
    )
    user.password_hash = hash_password(new_password)
    user.password_changed_at = at
    others = update(UserSession).where(
        UserSession.user_id == user.id, UserSession.ended_at.is_(None)
    )
    if keep_session_id is not None:
        others = others.where(UserSession.id != keep_session_id)
    session.execute(others.values(ended_at=at))


def upgrade_to_professional(session: Session, *, login: str, at: datetime) -> User:
    """The counter's act of opening the professional edition (stands in for the back office)."""
    user = find_user(session, login=login)
    if user is None:
        customer = session.scalars(
            select(Customer).where(
                (Customer.public_id == login)
                | (Customer.id_number_hash == lookup_hash(login.upper()))
            )
        ).first()
        if customer is not None:
            user = session.scalars(select(User).where(User.customer_id == customer.id)).first()
    if user is None:
        raise DomainError("customer_not_found")
    user.edition = "professional"
    user.upgraded_at = at
    return user


def require_professional(current: CurrentUser) -> None:
    if current.edition != "professional":
        raise DomainError("public_edition")
