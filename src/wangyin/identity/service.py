"""Registration (with a code to the reserved mobile), login (with lockout, night step-up
and device binding), sessions, passwords, the transaction PIN and the customer's own
security settings."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import cache
from typing import Any, NoReturn

from sqlalchemy import Select, and_, bindparam, delete, select, update
from sqlalchemy.orm import Session

from wangyin.accounts.models import Card
from wangyin.clock import BANK_TZ, as_utc
from wangyin.config import Settings
from wangyin.db import table_of
from wangyin.errors import DomainError
from wangyin.fraud import engine as fraud
from wangyin.i18n import gettext
from wangyin.idempotency.models import IdempotencyRecord
from wangyin.idempotency.service import StoredAnswer
from wangyin.identity import devices, otp, validators
from wangyin.identity.models import (
    Customer,
    Device,
    LoginChallenge,
    PasswordHistory,
    Registration,
    User,
    UserSession,
)
from wangyin.identity.passwords import (
    hash_password,
    needs_rehash,
    rehash_if_needed,
    verify_password,
)
from wangyin.ids import new_public_id, new_token
from wangyin.notify import service as notify
from wangyin.risk import aml as risk_aml
from wangyin.risk import service as risk
from wangyin.security import audit, ratelimit
from wangyin.security.audit import Client
from wangyin.security.crypto import constant_time_equal
from wangyin.security.fields import lookup_hash

# A successful login after this many consecutive failures is reported to the customer.
SUSPICIOUS_FAILURES = 3

# Touch a session's last-seen time at most this often: a read then needs no write.
_TOUCH_EVERY = timedelta(seconds=60)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# A registration waits this long for its code; codes for registering a customer a day.
REGISTRATION_MINUTES = 10
REGISTRATION_CODES_A_DAY = 5


def start_registration(
    session: Session,
    *,
    name: str,
    id_number: str,
    mobile: str,
    card_number: str,
    username: str,
    password: str,
    transaction_password: str,
    at: datetime,
    settings: Settings,
    client: Client | None = None,
    channel: str = "sms",
    occupation: str | None = None,
    product_use: str | None = None,
) -> Registration:
    """Self-registration (public edition), step 1: prove you are the holder of one of our
    active cards; then a code goes to the mobile the bank holds for you. The user is
    created only by `finish_registration`, with that code (issue 11 #16)."""
    id_number = validators.normalize_id_number(id_number)
    mobile = validators.normalize_mobile(mobile)
    card_number = validators.normalize_card_number(card_number)
    username = validators.normalize_username(username)
    validators.check_password_policy(
        password, id_number=id_number, mobile=mobile, username=username
    )
    validators.check_pin_policy(transaction_password, id_number=id_number, mobile=mobile)
    if channel not in notify.CHANNELS:
        raise DomainError("validation_error")

    customer = session.scalars(
        select(Customer).where(Customer.id_number_hash == lookup_hash(id_number))
    ).first()
    card = session.scalars(select(Card).where(Card.number_hash == lookup_hash(card_number))).first()
    # One message for every mismatch: registration must not confirm whose card it is. A
    # card reported lost or cancelled opens nothing.
    if (
        customer is None
        or card is None
        or card.customer_id != customer.id
        or card.status != "active"
        or customer.name != name.strip()
        or customer.mobile != mobile
    ):
        raise DomainError("card_not_found")
    # A listed applicant hears the same refusal; the hit opens a case (issue 7 §3).
    risk.screen_registration(
        session,
        customer_id=customer.id,
        id_number=id_number,
        mobile=mobile,
        card_number=card_number,
        at=at,
        client=client,
        refusal="card_not_found",
    )
    _check_registrable(session, customer_id=customer.id, username=username)
    # Occupation and intended use: AML factors, read when the login is created.
    risk_aml.declare(
        session, customer_id=customer.id, occupation=occupation, product_use=product_use, at=at
    )
    registration = Registration(
        public_id=new_public_id(),
        customer_id=customer.id,
        username=username,
        password_hash=hash_password(password),
        transaction_pin_hash=hash_password(transaction_password),
        code_hash="",
        attempts=0,
        code_expires_at=at,
        created_at=at,
        expires_at=at + timedelta(minutes=REGISTRATION_MINUTES),
    )
    session.add(registration)
    session.flush()
    _send_registration_code(
        session,
        registration=registration,
        customer=customer,
        channel=channel,
        at=at,
        settings=settings,
        client=client,
    )
    audit.append(
        session,
        event="registration_started",
        outcome="success",
        actor=registration.public_id,
        at=at,
        client=client,
        customer_id=customer.id,
    )
    return registration


def _check_registrable(session: Session, *, customer_id: int, username: str) -> None:
    if session.scalars(select(User.id).where(User.customer_id == customer_id)).first():
        raise DomainError("already_registered")
    if session.scalars(select(User.id).where(User.username == username)).first():
        raise DomainError("username_taken")


def _registration(session: Session, *, registration_id: str, at: datetime) -> Registration:
    """The open registration, under its lock."""
    registration = session.scalars(
        select(Registration)
        .where(Registration.public_id == registration_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()
    if (
        registration is None
        or registration.completed_at is not None
        or at >= as_utc(registration.expires_at)
    ):
        raise DomainError("registration_not_found")
    return registration


def _send_registration_code(
    session: Session,
    *,
    registration: Registration,
    customer: Customer,
    channel: str,
    at: datetime,
    settings: Settings,
    client: Client | None,
) -> None:
    """A new code (the earlier one stops working) to the customer's reserved mobile,
    within a daily budget of registration codes per customer."""
    sent = ratelimit.count(session, key=f"register-code:{customer.id}", window_seconds=86400, at=at)
    if sent > REGISTRATION_CODES_A_DAY:
        raise DomainError("otp_daily_cap", cap=REGISTRATION_CODES_A_DAY)
    code = otp.new_code()
    registration.code_hash = otp.code_hash(settings, "register", registration.public_id, code)
    registration.attempts = 0
    registration.code_expires_at = at + timedelta(seconds=settings.otp_valid_seconds)
    notify.enqueue(
        session,
        channel=channel,
        phone=customer.mobile,
        text=otp.text_of("register", client, code=code),
        purpose="register",
        at=at,
    )
    audit.append(
        session,
        event="code_issued",
        outcome="success",
        actor=registration.public_id,
        at=at,
        client=client,
        customer_id=customer.id,
        details={"purpose": "register", "channel": channel},
    )


def send_registration_code(
    session: Session,
    *,
    registration_id: str,
    channel: str,
    at: datetime,
    settings: Settings,
    client: Client | None = None,
) -> None:
    """Send the registration code again (SMS or voice)."""
    if channel not in notify.CHANNELS:
        raise DomainError("validation_error")
    registration = _registration(session, registration_id=registration_id, at=at)
    customer = session.get_one(Customer, registration.customer_id)
    _send_registration_code(
        session,
        registration=registration,
        customer=customer,
        channel=channel,
        at=at,
        settings=settings,
        client=client,
    )


def finish_registration(
    session: Session,
    *,
    registration_id: str,
    code: str,
    at: datetime,
    settings: Settings,
    client: Client | None = None,
) -> User:
    """Step 2: the code from the reserved mobile creates the user. The try is counted on
    the locked registration before the code is compared, and a wrong code commits that
    count with its refusal: 3 tries a code, as for every one-time code."""
    registration = _registration(session, registration_id=registration_id, at=at)
    if at >= as_utc(registration.code_expires_at):
        raise DomainError("otp_expired")
    if registration.attempts >= settings.otp_max_attempts:
        raise DomainError("otp_too_many_attempts")
    registration.attempts += 1
    expected = otp.code_hash(settings, "register", registration.public_id, code.strip())
    if not registration.code_hash or not constant_time_equal(expected, registration.code_hash):
        audit.append(
            session,
            event="code_checked",
            outcome="failure",
            actor=registration.public_id,
            at=at,
            client=client,
            customer_id=registration.customer_id,
            details={"purpose": "register"},
        )
        raise _kept(DomainError("otp_invalid"))
    _check_registrable(
        session, customer_id=registration.customer_id, username=registration.username
    )
    user = User(
        public_id=new_public_id(),
        customer_id=registration.customer_id,
        username=registration.username,
        password_hash=registration.password_hash,
        transaction_pin_hash=registration.transaction_pin_hash,
        edition="public",
        status="active",
        created_at=at,
        password_changed_at=at,
    )
    session.add(user)
    registration.completed_at = at
    session.flush()
    # The AML level; a high one holds the login for a supervisor (issue 7 §3).
    risk_aml.assess_registration(session, user=user, at=at, client=client)
    audit.append(
        session,
        event="registered",
        outcome="success",
        actor=user.public_id,
        at=at,
        client=client,
        customer_id=user.customer_id,
        details={"edition": "public"},
    )
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
    device_id: str = "",
    os_version: str = "",
) -> NewSession:
    """A new session and a new token every time (the id is rotated at login)."""
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
            device_id=device_id[:80],
            os_version=os_version[:80],
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
    freeze: str = "none"
    device_id: str = ""
    # The answer already stored under the request's Idempotency-Key, when asked for.
    stored_answer: StoredAnswer | None = None
    # The user row's limit and day-counter columns, when asked for (`with_limits`).
    limits: dict[str, Any] | None = None


LIMIT_COLUMN_NAMES = (
    "single_limit_minor",
    "daily_limit_minor",
    "password_free_single_minor",
    "password_free_daily_minor",
    "day_date",
    "day_total_cny_minor",
    "day_password_free_cny_minor",
    "day_others_cny_minor",
)
_SESSIONS = table_of(UserSession)
_USERS = table_of(User)
_CUSTOMERS = table_of(Customer)


def resolve_session(
    session: Session,
    *,
    token: str,
    at: datetime,
    settings: Settings,
    idempotency_key: str | None = None,
    with_limits: bool = False,
) -> CurrentUser | None:
    """The logged-in user behind a token, or None when it is unknown, ended or timed out.

    One statement on the hot path: only the columns a request needs (nothing encrypted is
    read, so nothing is decrypted), and with `idempotency_key` the answer stored under it,
    joined in (`CurrentUser.stored_answer`). Read-only: the caller touches the session
    when `touch_due` says so."""
    query, params = session_read(
        token=token, idempotency_key=idempotency_key, with_limits=with_limits
    )
    row = session.execute(query, params).first()
    return session_user(
        row,
        at=at,
        settings=settings,
        with_key=idempotency_key is not None,
        with_limits=with_limits,
    )


def session_read(
    *, token: str, idempotency_key: str | None = None, with_limits: bool = False
) -> tuple[Select[Any], dict[str, Any]]:
    """The session look-up as a statement and its parameters, for a use case that reads
    it together with its own rows (`db.read_together`); `session_user` reads the row."""
    query = _session_query(with_key=idempotency_key is not None, with_limits=with_limits)
    return query, {"token_hash": _token_hash(token), "idempotency_key": idempotency_key}


def customer_of_token() -> Any:
    """The customer behind the `token_hash` parameter, as an SQL scalar subquery: a use
    case's own reads can find (and lock) that customer's rows in the same round trip as
    the session look-up. The session's validity is still decided by `session_user`."""
    return (
        select(_USERS.c.customer_id)
        .join(_SESSIONS, _SESSIONS.c.user_id == _USERS.c.id)
        .where(_SESSIONS.c.token_hash == bindparam("token_hash"))
        .scalar_subquery()
    )


def token_hash(token: str) -> str:
    return _token_hash(token)


def session_user(
    row: Any, *, at: datetime, settings: Settings, with_key: bool, with_limits: bool
) -> CurrentUser | None:
    """The user of a session row (see `session_read`), or None when there is none or it
    ended, expired or idled out, or the user is not active."""
    if row is None:
        return None
    idle_limit = timedelta(minutes=settings.session_idle_minutes)
    if (
        row.ended_at is not None
        or at >= as_utc(row.expires_at)
        or at - as_utc(row.last_seen_at) > idle_limit
        or row.status != "active"
    ):
        return None
    stored = None
    if with_key and row.request_digest is not None:
        stored = StoredAnswer(row.request_digest, row.response_status, row.response_body)
    return CurrentUser(
        user_id=row.user_id,
        user_public_id=row.user_public_id,
        customer_id=row.customer_id,
        customer_public_id=row.customer_public_id,
        name=row.name,
        username=row.username,
        edition=row.edition,
        session_id=row.session_id,
        csrf_token=row.csrf_token,
        touch_due=at - as_utc(row.last_seen_at) > _TOUCH_EVERY,
        freeze=row.freeze,
        device_id=row.device_id,
        stored_answer=stored,
        limits={name: getattr(row, name) for name in LIMIT_COLUMN_NAMES} if with_limits else None,
    )


@cache
def _session_query(*, with_key: bool, with_limits: bool) -> Select[Any]:
    """Built once per shape: a statement object reused with new parameters skips SQLAlchemy's
    construction and cache-key work on every request (the hot path's largest CPU cost)."""
    columns = [
        _SESSIONS.c.id.label("session_id"),
        _SESSIONS.c.csrf_token,
        _SESSIONS.c.device_id,
        _SESSIONS.c.last_seen_at,
        _SESSIONS.c.expires_at,
        _SESSIONS.c.ended_at,
        _USERS.c.id.label("user_id"),
        _USERS.c.public_id.label("user_public_id"),
        _USERS.c.username,
        _USERS.c.edition,
        _USERS.c.status,
        _USERS.c.freeze,
        _USERS.c.customer_id,
        _CUSTOMERS.c.public_id.label("customer_public_id"),
        _CUSTOMERS.c.name,
    ]
    query = (
        select(*columns)
        .select_from(_SESSIONS)
        .join(_USERS, _USERS.c.id == _SESSIONS.c.user_id)
        .join(_CUSTOMERS, _CUSTOMERS.c.id == _USERS.c.customer_id)
        .where(_SESSIONS.c.token_hash == bindparam("token_hash"))
    )
    if with_key:
        records = table_of(IdempotencyRecord)
        query = query.add_columns(
            records.c.request_digest, records.c.response_status, records.c.response_body
        ).outerjoin(
            records,
            and_(
                records.c.scope == _USERS.c.public_id,
                records.c.key == bindparam("idempotency_key"),
            ),
        )
    if with_limits:  # the transfer path's limits and day counters, in the same statement
        query = query.add_columns(*(_USERS.c[name] for name in LIMIT_COLUMN_NAMES))
    return query


@dataclass(frozen=True)
class Caller:
    """Who claims to call, as the request says (token, CSRF header, path, client): checked
    against the session inside the use case's own transaction."""

    token: str
    via_cookie: bool
    csrf_sent: str
    path: str
    unsafe_method: bool
    client: Client


# While frozen "all", a customer can still log in to unfreeze, see their security
# settings and log out (4.4-c1).
FROZEN_ALLOWED = ("/api/v1/security", "/api/v1/auth/logout", "/api/v1/me", "/security", "/logout")


def check_caller(*, user: CurrentUser, caller: Caller) -> None:
    """What a valid session may still not do: an unsafe request over the session cookie
    without its CSRF token, and anything but unfreezing while frozen "all"."""
    if (
        caller.via_cookie
        and caller.unsafe_method
        and not secrets.compare_digest(caller.csrf_sent, user.csrf_token)
    ):
        raise DomainError("csrf_failed")
    if user.freeze == "all" and not caller.path.startswith(FROZEN_ALLOWED):
        raise DomainError("account_frozen")


def authenticate_caller(
    session: Session,
    *,
    caller: Caller,
    at: datetime,
    settings: Settings,
    idempotency_key: str | None = None,
    with_limits: bool = False,
    session_rows: list[Any] | None = None,
) -> CurrentUser:
    """The caller's session, in the caller's transaction; refuses an unknown or expired
    session, a cookie session's unsafe request without its CSRF token, and anything but
    unfreezing while frozen. Touches the session when due (once a minute at most).
    `session_rows`: the rows of `session_read`, when the caller already read them."""
    if not caller.token:
        raise DomainError("not_authenticated")
    if session_rows is None:
        user = resolve_session(
            session,
            token=caller.token,
            at=at,
            settings=settings,
            idempotency_key=idempotency_key,
            with_limits=with_limits,
        )
    else:
        user = session_user(
            session_rows[0] if session_rows else None,
            at=at,
            settings=settings,
            with_key=idempotency_key is not None,
            with_limits=with_limits,
        )
    if user is None:
        raise DomainError("not_authenticated")
    check_caller(user=user, caller=caller)
    if user.touch_due:
        touch_session(session, session_id=user.session_id, at=at)
    return user


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
    settings: Settings,
    client: Client | None = None,
) -> None:
    """5.1.1-d: the old password stops working at once and every other session ends.

    A wrong current password is a wrong login password (issue 11 #4): counted with the
    login failures under the user row's lock, in this transaction, so the 5th in a row
    locks the login (and texts the customer) as at the login page; while the login is
    locked this route, too, answers `login_locked` whatever the password."""
    user = session.scalars(
        select(User)
        .where(User.id == user_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()
    if user is None:
        raise DomainError("not_authenticated")
    client = client or Client()
    if user.locked_until is not None and as_utc(user.locked_until) > at:
        _audit_login(session, user, "refused", client, at, {"reason": "login_locked"})
        raise _kept(DomainError("login_locked", until=_local_hhmm(user.locked_until)))
    if not verify_password(user.password_hash, old_password):
        count_password_failure(session, user=user, client=client, at=at, settings=settings)
        raise _kept(DomainError("wrong_password"))
    user.failed_logins = 0
    if old_password == new_password:
        raise DomainError("password_reused")
    customer = session.get_one(Customer, user.customer_id)
    validators.check_password_policy(
        new_password,
        id_number=customer.id_number,
        mobile=customer.mobile,
        username=user.username,
    )
    replace_password(session, user=user, new_password=new_password, at=at, settings=settings)
    others = update(UserSession).where(
        UserSession.user_id == user.id, UserSession.ended_at.is_(None)
    )
    if keep_session_id is not None:
        others = others.where(UserSession.id != keep_session_id)
    session.execute(others.values(ended_at=at))
    audit.append(
        session,
        event="password_changed",
        outcome="success",
        actor=user.public_id,
        at=at,
        client=client,
        customer_id=user.customer_id,
    )


def replace_password(
    session: Session, *, user: User, new_password: str, at: datetime, settings: Settings
) -> None:
    """Set a new login password unless it is one of the customer's last
    `password_history_count` (the current one included; issue 11 #15, 4.1.2.1-g): the
    current hash goes into `password_history`, which keeps the latest ones before it.
    Called once the customer is authenticated for the change (current password, or the
    reset code), so the refusal tells nothing to someone who is not."""
    depth = settings.password_history_count
    if verify_password(user.password_hash, new_password):
        raise DomainError("password_reused")
    earlier = session.execute(
        select(PasswordHistory.id, PasswordHistory.password_hash)
        .where(PasswordHistory.user_id == user.id)
        .order_by(PasswordHistory.id.desc())
    ).all()
    for _, stored in earlier[: depth - 1]:
        if verify_password(stored, new_password):
            raise DomainError("password_in_history", count=depth)
    session.add(PasswordHistory(user_id=user.id, password_hash=user.password_hash, replaced_at=at))
    dropped = [row_id for row_id, _ in earlier[max(depth - 2, 0) :]]
    if dropped:
        session.execute(delete(PasswordHistory).where(PasswordHistory.id.in_(dropped)))
    user.password_hash = hash_password(new_password)
    user.password_changed_at = at


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


def require_transfers_allowed(current: CurrentUser) -> None:
    require_professional(current)
    if current.freeze == "all":
        raise DomainError("account_frozen")
    if current.freeze == "transfers":
        raise DomainError("transfers_frozen")


# ---------------------------------------------------------------------------------------
# Login with lockout, night step-up and device binding (4.3.2)


@dataclass(frozen=True)
class LoginOutcome:
    """Either a session, or a challenge the customer answers with a code."""

    session: NewSession | None = None
    challenge_id: str | None = None
    reasons: tuple[str, ...] = ()
    user_public_id: str = ""
    edition: str = ""
    # With a session: the device's new credential (binding, or the one before replaced),
    # for the browser's cookie or the app to keep; shown nowhere else.
    device_credential: str | None = None


def is_night(at: datetime) -> bool:
    """00:00–06:00 in the bank's time zone (4.3.2-e)."""
    return as_utc(at).astimezone(BANK_TZ).hour < 6


def login(
    session: Session,
    *,
    login: str,
    password: str,
    client: Client,
    at: datetime,
    settings: Settings,
    device_credential: str = "",
) -> LoginOutcome:
    """Check the password; then open a session or ask for a code.

    A bound device is one that presents the credential the bank issued it
    (`device_credential`, issue 11 #7); a device id alone is a new device. A login from a
    bound device replaces its credential (`LoginOutcome.device_credential`).

    One transaction decides and counts (ARCHITECTURE rule 9, issue 11 #2/#3/#12): the
    attempt is counted against the login name's rate limit, the user row is locked, and
    while the login is locked every attempt gets `login_locked` without the password being
    looked at. A wrong password is counted under the lock (the 5th in a row locks and
    texts the customer); its refusal commits that count (`keep`). A name that belongs to
    nobody is counted and locked the same way, so its answers are a real name's answers."""
    name = login.strip()
    ratelimit.limit_login_name(session, login=name, at=at, settings=settings)
    user = _find_user_locked(session, login=name)
    if user is None:
        _unknown_login(
            session, name=name, password=password, client=client, at=at, settings=settings
        )
    if user.locked_until is not None and as_utc(user.locked_until) > at:
        # Same answer whatever the password: the lock stops guessing, not only announces it.
        _audit_login(session, user, "refused", client, at, {"reason": "login_locked"})
        raise _kept(DomainError("login_locked", until=_local_hhmm(user.locked_until)))
    if not verify_password(user.password_hash, password):
        count_password_failure(session, user=user, client=client, at=at, settings=settings)
        raise _kept(DomainError("invalid_credentials"))
    if user.status == "under_review":  # a high-risk sign-up awaiting its supervisor
        _audit_login(session, user, "refused", client, at, {"reason": "under_review"})
        raise _kept(DomainError("under_review"))
    if user.status != "active":
        _audit_login(session, user, "refused", client, at, {"reason": "customer_inactive"})
        raise _kept(DomainError("customer_inactive"))
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    if user.failed_logins >= SUSPICIOUS_FAILURES:
        # A success right after several failures may be a guessed password (ASVS 6.3.5).
        customer = session.get_one(Customer, user.customer_id)
        notify.enqueue(
            session,
            channel="sms",
            phone=customer.mobile,
            purpose="login_alert",
            at=at,
            text=gettext(
                LOGIN_ALERT, client.language, count=user.failed_logins, time=_local_hhmm(at)
            ),
        )
    user.failed_logins = 0
    user.locked_until = None

    reasons = []
    if is_night(at):
        reasons.append("night")
    device = devices.verified(session, user_id=user.id, credential=device_credential)
    # Anti-fraud (issue 7 §4): credential stuffing, fake registrations, new device at night.
    decision = fraud.assess_login(
        session,
        user_id=user.id,
        customer_id=user.customer_id,
        user_created_at=user.created_at,
        ip=client.ip,
        new_device=device is None,
        at=at,
    )
    if decision.action in (fraud.HOLD, fraud.BLOCK):  # a login cannot wait: refused
        _audit_login(session, user, "refused", client, at, {"reason": "risk"})
        raise _kept(DomainError("operation_refused"))
    if decision.action == fraud.STEP_UP and not reasons and device is not None:
        reasons.append("risk")  # a code to the reserved mobile (night, new device ask one)
    details: dict[str, Any] = {}
    if device is not None:
        client = replace(client, device_id=device.public_id)
    else:
        reasons.append("new_device")
        if device_credential:
            # A credential that is not (or no longer) a bound device's: a copy spent by a
            # later login, a removed device's, or a forgery. Its name is not recorded.
            details["device_credential"] = "refused"
            if client.device_id == devices.public_id_of(device_credential):
                client = replace(client, device_id="")
    if reasons:
        challenge = LoginChallenge(
            public_id=new_public_id(),
            user_id=user.id,
            reasons=",".join(reasons),
            client_type=client.client_type,
            device_id=client.device_id,
            bound_device_id=device.id if device is not None else None,
            created_at=at,
            expires_at=at + timedelta(minutes=5),
        )
        session.add(challenge)
        audit.append(
            session,
            event="login",
            outcome="challenged",
            actor=user.public_id,
            at=at,
            client=client,
            customer_id=user.customer_id,
            details={"reasons": reasons, **details},
        )
        return LoginOutcome(
            challenge_id=challenge.public_id,
            reasons=tuple(reasons),
            user_public_id=user.public_id,
            edition=user.edition,
        )
    assert device is not None  # noqa: S101 - reasons is empty only for a bound device
    return _open_session(session, user=user, device=device, client=client, at=at, settings=settings)


def _open_session(
    session: Session,
    *,
    user: User,
    device: Device,
    client: Client,
    at: datetime,
    settings: Settings,
    credential: str | None = None,
) -> LoginOutcome:
    """A session from a bound device, whose credential is replaced now (`credential`: the
    one a binding has just issued)."""
    if credential is None:
        credential = devices.issue(device)
    device.last_seen_at = at
    client = replace(client, device_id=device.public_id)
    started = start_session(
        session,
        user=user,
        client_type=client.client_type or "api",
        ip=client.ip,
        user_agent=client.user_agent,
        at=at,
        settings=settings,
        device_id=device.public_id,
        os_version=client.os_version,
    )
    audit.append(
        session,
        event="login",
        outcome="success",
        actor=user.public_id,
        at=at,
        client=client,
        customer_id=user.customer_id,
    )
    return LoginOutcome(
        session=started,
        user_public_id=user.public_id,
        edition=user.edition,
        device_credential=credential,
    )


# What the bank texts on its own, in the language of the request that caused it (issue 9);
# the Chinese is in the catalog (experience.po).
LOGIN_ALERT = (
    "Your online banking was logged in to after {count} wrong passwords ({time}). "
    "If this was not you, change your password or call the bank at once."
)
LOGIN_LOCKED = (
    "Your online banking password was wrong {count} times in a row: login is locked until "
    "{time}. If this was not you, call the bank at once."
)
PIN_LOCKED = (
    "Your transaction password was wrong {count} times in a row: online banking transfers "
    "are frozen. If this was not you, call the bank at once; you can unfreeze them in the "
    "security center with a code and your transaction password or ID number."
)


def _local_hhmm(moment: datetime) -> str:
    return as_utc(moment).astimezone(BANK_TZ).strftime("%H:%M")


def _kept(error: DomainError) -> DomainError:
    """A refusal whose bookkeeping (counts, audit records) commits with it."""
    error.keep = True
    return error


def _find_user_locked(session: Session, *, login: str) -> User | None:
    """`find_user`, with the user row locked and read as it is now."""
    query = select(User).with_for_update(of=User).execution_options(populate_existing=True)
    if login.isdigit():
        query = query.join(Customer, Customer.id == User.customer_id).where(
            Customer.mobile_hash == lookup_hash(login)
        )
    else:
        query = query.where(User.username == login)
    return session.scalars(query).first()


def _audit_login(
    session: Session,
    user: User,
    outcome: str,
    client: Client,
    at: datetime,
    details: dict[str, Any] | None = None,
) -> None:
    audit.append(
        session,
        event="login",
        outcome=outcome,
        actor=user.public_id,
        at=at,
        client=client,
        customer_id=user.customer_id,
        details=details,
    )


# How long the failures of a login name that belongs to nobody are remembered: a real
# user's consecutive failures are kept until a success or a lock, so a long time.
UNKNOWN_FAILURES_KEPT_SECONDS = 30 * 86400


def _unknown_login(
    session: Session, *, name: str, password: str, client: Client, at: datetime, settings: Settings
) -> NoReturn:
    """A login name (or mobile number) nobody has: answered as a real one would be, with
    its failures counted and a timed "lock" by the name's look-up hash (issue 11 #12)."""
    key = ratelimit.login_name_key(name)
    locked_until = ratelimit.active_until(session, key=f"lock:login:{key}", at=at)
    if locked_until is not None:
        audit.append(
            session,
            event="login",
            outcome="refused",
            actor="unknown",
            at=at,
            client=client,
            details={"reason": "login_locked"},
        )
        raise _kept(DomainError("login_locked", until=_local_hhmm(locked_until)))
    verify_password(None, password)  # the time a wrong password costs
    audit.append(session, event="login", outcome="failure", actor="unknown", at=at, client=client)
    failures = ratelimit.count(
        session, key=f"fail:login:{key}", window_seconds=UNKNOWN_FAILURES_KEPT_SECONDS, at=at
    )
    if failures >= settings.login_max_failures:
        ratelimit.count(
            session,
            key=f"lock:login:{key}",
            window_seconds=settings.login_lock_minutes * 60,
            at=at,
        )
        ratelimit.forget(session, key=f"fail:login:{key}")
    raise _kept(DomainError("invalid_credentials"))


def count_password_failure(
    session: Session, *, user: User, client: Client, at: datetime, settings: Settings
) -> None:
    """Count a wrong login password (at login, or as the current password of a change) on
    the locked user row, in the transaction that checked it; the 5th in a row locks the
    login for `login_lock_minutes` and texts the customer at once (4.3.2-f)."""
    _audit_login(session, user, "failure", client, at)
    user.failed_logins += 1
    if user.failed_logins < settings.login_max_failures:
        return
    user.locked_until = at + timedelta(minutes=settings.login_lock_minutes)
    user.failed_logins = 0
    customer = session.get_one(Customer, user.customer_id)
    notify.enqueue(
        session,
        channel="sms",
        phone=customer.mobile,
        purpose="login_locked",
        at=at,
        text=gettext(
            LOGIN_LOCKED,
            client.language,
            count=settings.login_max_failures,
            time=_local_hhmm(user.locked_until),
        ),
    )
    audit.append(
        session,
        event="login_locked",
        outcome="success",
        actor="system",
        at=at,
        client=client,
        customer_id=user.customer_id,
        details={"until": as_utc(user.locked_until).isoformat()},
    )


def unlock(session: Session, *, login: str, staff: str, at: datetime) -> User:
    """Staff unlock (until the back office exists: `wangyin admin unlock`)."""
    user = find_user(session, login=login)
    if user is None:
        raise DomainError("customer_not_found")
    user.locked_until = None
    user.failed_logins = 0
    audit.append(
        session,
        event="login_unlocked",
        outcome="success",
        actor=staff,
        at=at,
        customer_id=user.customer_id,
    )
    return user


def _challenge(session: Session, *, challenge_id: str, at: datetime) -> LoginChallenge:
    challenge = session.scalars(
        select(LoginChallenge).where(LoginChallenge.public_id == challenge_id).with_for_update()
    ).first()
    if (
        challenge is None
        or challenge.completed_at is not None
        or at >= as_utc(challenge.expires_at)
    ):
        raise DomainError("challenge_not_found")
    return challenge


def send_challenge_code(
    session: Session,
    *,
    challenge_id: str,
    channel: str,
    client: Client,
    at: datetime,
    settings: Settings,
) -> None:
    challenge = _challenge(session, challenge_id=challenge_id, at=at)
    user = session.get_one(User, challenge.user_id)
    purpose = (
        "reset"
        if challenge.reasons == "reset"
        else ("device" if "new_device" in challenge.reasons else "login")
    )
    otp.issue(
        session,
        user=user,
        purpose=purpose,
        binding=challenge.public_id,
        channel=channel,
        at=at,
        settings=settings,
        client=client,
    )


def _purpose_of(challenge: LoginChallenge) -> str:
    if challenge.reasons == "reset":
        return "reset"
    return "device" if "new_device" in challenge.reasons else "login"


def challenge_user_id(session: Session, *, challenge_id: str) -> int | None:
    """The user a challenge belongs to, for the per-customer code request limit."""
    return session.scalar(
        select(LoginChallenge.user_id).where(LoginChallenge.public_id == challenge_id)
    )


def complete_challenge(
    session: Session,
    *,
    challenge_id: str,
    code: str,
    id_number: str | None,
    client: Client,
    at: datetime,
    settings: Settings,
) -> LoginOutcome:
    """The code (and, for a new device, the ID number) opens the session and binds it.

    Each try is counted against the code before it is compared, under the challenge's and
    the code's locks, and a wrong code or ID number commits that count with its refusal
    (issue 11 #2): concurrent guesses cannot share a try."""
    challenge = _challenge(session, challenge_id=challenge_id, at=at)
    if challenge.reasons == "reset":
        raise DomainError("challenge_not_found")
    row = otp.take_try(
        session,
        user_id=challenge.user_id,
        purpose=_purpose_of(challenge),
        binding=challenge.public_id,
        at=at,
        settings=settings,
    )
    if not otp.matches(row, code=code, settings=settings):
        raise otp.refusal(session, row, at=at, client=client)
    user = session.get_one(User, challenge.user_id)
    if "new_device" in challenge.reasons:
        customer = session.get_one(Customer, user.customer_id)
        try:
            normalized = validators.normalize_id_number(id_number or "")
        except DomainError:
            normalized = ""
        if not normalized or lookup_hash(normalized) != customer.id_number_hash:
            raise otp.refusal(session, row, at=at, client=client, code="wrong_id_number")
    otp.accept(session, row, at=at)
    challenge.completed_at = at
    device = devices.active(session, device_id=challenge.bound_device_id, user_id=user.id)
    credential = None
    if device is None:
        # A new device (or the bound one was removed meanwhile): the code and the ID
        # number bind it, and it gets its first credential.
        if "new_device" not in challenge.reasons:
            raise DomainError("challenge_not_found")
        # A listed device or IP range binds nothing, and opens a case (issue 7 §3).
        risk.screen_device_binding(
            session,
            customer_id=user.customer_id,
            device_name=challenge.device_id,
            client=client,
            at=at,
            refusal="challenge_not_found",
        )
        device, credential = devices.bind(
            session, user_id=user.id, name=challenge.device_id, label=client.describe(), at=at
        )
        audit.append(
            session,
            event="device_bound",
            outcome="success",
            actor=user.public_id,
            at=at,
            client=replace(client, device_id=device.public_id),
            customer_id=user.customer_id,
        )
    return _open_session(
        session,
        user=user,
        device=device,
        client=client,
        at=at,
        settings=settings,
        credential=credential,
    )


# ---------------------------------------------------------------------------------------
# Forgot password (5.1.1-c): ID number + card + code


def start_password_reset(
    session: Session,
    *,
    id_number: str,
    card_number: str,
    client: Client,
    at: datetime,
    settings: Settings,
    channel: str = "sms",
) -> str:
    """ID number and one of the customer's active debit cards, then a reset code.

    An ID-and-card matching oracle, so it is limited (issue 11 #6): per IP by the route,
    and here per ID number and per card, counted before anything is looked up; every
    refusal commits those counts (`keep`). The code comes out of a daily budget of its own
    (`otp.RESET_DAILY_CAP`), so strangers cannot spend the customer's login codes."""
    id_number = validators.normalize_id_number(id_number)
    card_number = validators.normalize_card_number(card_number)
    ratelimit.limit_reset_identity(
        session, id_number=id_number, card_number=card_number, at=at, settings=settings
    )
    try:
        return _start_reset(
            session,
            id_number=id_number,
            card_number=card_number,
            client=client,
            at=at,
            settings=settings,
            channel=channel,
        )
    except DomainError as refusal:
        raise _kept(refusal) from None


def _start_reset(
    session: Session,
    *,
    id_number: str,
    card_number: str,
    client: Client,
    at: datetime,
    settings: Settings,
    channel: str,
) -> str:
    customer = session.scalars(
        select(Customer).where(Customer.id_number_hash == lookup_hash(id_number))
    ).first()
    card = session.scalars(select(Card).where(Card.number_hash == lookup_hash(card_number))).first()
    user = (
        session.scalars(select(User).where(User.customer_id == customer.id)).first()
        if customer
        else None
    )
    if (
        customer is None
        or card is None
        or card.customer_id != customer.id
        or card.status != "active"
        or user is None
    ):
        audit.append(
            session,
            event="password_reset_started",
            outcome="refused",
            actor="unknown",
            at=at,
            client=client,
            customer_id=customer.id if customer else None,
            details={"reason": "card_not_found"},
        )
        raise DomainError("card_not_found")
    challenge_id = new_public_id()
    # The code first: a refused code (the day's reset budget is spent) leaves no challenge.
    otp.issue(
        session,
        user=user,
        purpose="reset",
        binding=challenge_id,
        channel=channel,
        at=at,
        settings=settings,
        client=client,
    )
    challenge = LoginChallenge(
        public_id=challenge_id,
        user_id=user.id,
        reasons="reset",
        client_type=client.client_type,
        device_id=client.device_id,
        created_at=at,
        expires_at=at + timedelta(minutes=10),
    )
    session.add(challenge)
    session.flush()
    audit.append(
        session,
        event="password_reset_started",
        outcome="success",
        actor=user.public_id,
        at=at,
        client=client,
        customer_id=user.customer_id,
    )
    return challenge.public_id


def finish_password_reset(
    session: Session,
    *,
    challenge_id: str,
    code: str,
    new_password: str,
    client: Client,
    at: datetime,
    settings: Settings,
) -> None:
    challenge = _challenge(session, challenge_id=challenge_id, at=at)
    if challenge.reasons != "reset":
        raise DomainError("challenge_not_found")
    user = session.get_one(User, challenge.user_id)
    customer = session.get_one(Customer, user.customer_id)
    validators.check_password_policy(
        new_password,
        id_number=customer.id_number,
        mobile=customer.mobile,
        username=user.username,
    )
    otp.check(
        session,
        user_id=user.id,
        purpose="reset",
        binding=challenge.public_id,
        code=code,
        at=at,
        settings=settings,
        client=client,
    )
    replace_password(session, user=user, new_password=new_password, at=at, settings=settings)
    # A login lock is not lifted here: only its time or staff end it (issue 11 #3).
    challenge.completed_at = at
    session.execute(
        update(UserSession)
        .where(UserSession.user_id == user.id, UserSession.ended_at.is_(None))
        .values(ended_at=at)
    )
    audit.append(
        session,
        event="password_reset",
        outcome="success",
        actor=user.public_id,
        at=at,
        client=client,
        customer_id=user.customer_id,
    )


# ---------------------------------------------------------------------------------------
# Transaction PIN

PIN_MAX_FAILURES = 5


def record_pin_failure(session: Session, *, user_id: int, client: Client, at: datetime) -> None:
    """Count a wrong transaction password under the user row's lock, in the transaction
    that checked it (the caller raises its refusal with `keep`); the 5th in a row freezes
    transfers and texts the customer, who unfreezes with a code and the transaction
    password or ID number (PSD2 RTS 4)."""
    user = _locked_user(session, user_id)
    user.failed_pins += 1
    audit.append(
        session,
        event="transaction_password_checked",
        outcome="failure",
        actor=user.public_id,
        at=at,
        client=client,
        customer_id=user.customer_id,
    )
    if user.failed_pins < PIN_MAX_FAILURES:
        return
    user.failed_pins = 0
    if user.freeze == "none":
        user.freeze = "transfers"
    customer = session.get_one(Customer, user.customer_id)
    notify.enqueue(
        session,
        channel="sms",
        phone=customer.mobile,
        purpose="pin_locked",
        at=at,
        text=gettext(PIN_LOCKED, client.language, count=PIN_MAX_FAILURES),
    )
    audit.append(
        session,
        event="transaction_password_locked",
        outcome="success",
        actor="system",
        at=at,
        client=client,
        customer_id=user.customer_id,
    )


def check_transaction_pin(session: Session, *, user_id: int, pin: str) -> None:
    user = session.get_one(User, user_id)
    if not verify_password(user.transaction_pin_hash, pin):
        raise DomainError("wrong_transaction_password")
    repeppered = rehash_if_needed(user.transaction_pin_hash or "", pin)
    if repeppered:  # a hash from before the pepper, or under an older one
        user.transaction_pin_hash = repeppered


def _locked_user(session: Session, user_id: int) -> User:
    """The user row under its lock, as it is now (not as this session last saw it)."""
    return session.scalars(
        select(User)
        .where(User.id == user_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


def change_transaction_pin(
    session: Session, *, user_id: int, old_pin: str, new_pin: str, client: Client, at: datetime
) -> None:
    """A wrong current PIN counts like one at confirm, in this transaction (rule 9)."""
    user = _locked_user(session, user_id)
    if not verify_password(user.transaction_pin_hash, old_pin):
        record_pin_failure(session, user_id=user_id, client=client, at=at)
        error = DomainError("wrong_transaction_password")
        error.keep = True
        raise error
    customer = session.get_one(Customer, user.customer_id)
    validators.check_pin_policy(new_pin, id_number=customer.id_number, mobile=customer.mobile)
    if old_pin == new_pin:
        raise DomainError("password_reused")
    user.transaction_pin_hash = hash_password(new_pin)
    user.failed_pins = 0
    audit.append(
        session,
        event="transaction_password_changed",
        outcome="success",
        actor=user.public_id,
        at=at,
        client=client,
        customer_id=user.customer_id,
    )
