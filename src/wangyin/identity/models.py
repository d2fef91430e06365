"""Customers (the bank's customer file), their online-banking users and sessions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, DateTime, ForeignKey, Index, Integer, String, false
from sqlalchemy.orm import Mapped, mapped_column, validates

from wangyin.db import Base, BigIntPK
from wangyin.security.fields import EncryptedString, lookup_hash


class Customer(Base):
    """A person known to the bank (opened at a branch). Online banking is optional."""

    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(36), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    # Encrypted at rest; found through the keyed hash beside each (4.1.6-c).
    id_number: Mapped[str] = mapped_column(EncryptedString("id_number"))
    id_number_hash: Mapped[str] = mapped_column(String(64), unique=True)
    mobile: Mapped[str] = mapped_column(EncryptedString("mobile"))  # the reserved phone
    mobile_hash: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    @validates("id_number")
    def _hash_id_number(self, _key: str, value: str) -> str:
        self.id_number_hash = lookup_hash(value)
        return value

    @validates("mobile")
    def _hash_mobile(self, _key: str, value: str) -> str:
        self.mobile_hash = lookup_hash(value)
        return value


class User(Base):
    """A customer's online-banking login. Edition decides what they may do (4.1.5.1-a)."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(36), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), unique=True)
    username: Mapped[str] = mapped_column(String(32), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    edition: Mapped[str] = mapped_column(String(16), default="public")  # public | professional
    status: Mapped[str] = mapped_column(String(16), default="active")
    language: Mapped[str] = mapped_column(String(8), default="zh")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    password_changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    upgraded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Login hardening (4.3.2-f): consecutive failures and the timed lock they cause.
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The transaction password: a 6-digit PIN, Argon2id like the login password.
    transaction_pin_hash: Mapped[str | None] = mapped_column(String(200))
    # Consecutive wrong transaction passwords; the 5th freezes transfers until unfrozen.
    failed_pins: Mapped[int] = mapped_column(Integer, default=0)
    # Today's totals (bank day `day_date`, Asia/Shanghai) in CNY minor units, kept by the
    # confirm step under this row's lock: the daily limits read them instead of summing.
    day_date: Mapped[str] = mapped_column(String(10), default="")
    day_total_cny_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    day_password_free_cny_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    # Of today's total, what went to other people's accounts (own accounts at this bank
    # excepted): above the no-certificate ceiling a certificate is needed (银发〔2016〕261号).
    day_others_cny_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    # Self-service freezes (4.4-c1): transfers only, or everything but logging in to unfreeze.
    freeze: Mapped[str] = mapped_column(String(16), default="none")  # none | transfers | all
    # Customer-set limits within the bank's maxima; None means the bank's modest default.
    single_limit_minor: Mapped[int | None] = mapped_column(BigInteger)
    daily_limit_minor: Mapped[int | None] = mapped_column(BigInteger)
    # Small password-free payments (5.1.2-g): 0 means off.
    password_free_single_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    password_free_daily_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    # Care mode (关爱版, 5.3.1), remembered per customer (experience/, issue 9 §3).
    care_mode: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class UserSession(Base):
    """A server-side login session. Only the SHA-256 of the bearer token is stored."""

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    client_type: Mapped[str] = mapped_column(String(16))  # web | api
    ip: Mapped[str] = mapped_column(String(64), default="")
    device_id: Mapped[str] = mapped_column(String(80), default="")
    os_version: Mapped[str] = mapped_column(String(80), default="")
    user_agent: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Device(Base):
    """A browser or phone the customer bound with a code and their ID number (4.3.2-c).

    A device is recognised only by the credential the bank issued when it was bound
    (`identity.devices`, issue 11 #7): only a keyed hash of it is kept here, and it is
    replaced at every login. `device_id` is the name the app gave itself (X-Device-Id),
    kept for the record and trusted for nothing."""

    __tablename__ = "devices"
    __table_args__ = (Index("ix_devices_user_device", "user_id", "device_id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(36), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    device_id: Mapped[str] = mapped_column(String(80))
    # "<look-up key id>:<HMAC-SHA256 hex>" of the current credential; None: bound before
    # credentials existed, recognised no more.
    credential_hash: Mapped[str | None] = mapped_column(String(100))
    label: Mapped[str] = mapped_column(String(120), default="")
    bound_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    removed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class OtpCode(Base):
    """A one-time code: only its keyed hash is kept, bound to a purpose and a digest."""

    __tablename__ = "otp_codes"
    __table_args__ = (Index("ix_otp_codes_user_purpose", "user_id", "purpose", "binding"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    purpose: Mapped[str] = mapped_column(String(32))
    binding: Mapped[str] = mapped_column(String(64))  # e.g. a transfer's key digest
    channel: Mapped[str] = mapped_column(String(16))  # sms | voice
    code_hash: Mapped[str] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class LoginChallenge(Base):
    """A login whose password was right but that still needs a code (night, new device)."""

    __tablename__ = "login_challenges"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(36), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    reasons: Mapped[str] = mapped_column(String(64))  # comma-separated: night, new_device
    client_type: Mapped[str] = mapped_column(String(16))
    device_id: Mapped[str] = mapped_column(String(80), default="")
    # The bound device whose credential the login presented (a night login from it): its
    # credential is replaced when the challenge is passed. None: a new device.
    bound_device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class PasswordHistory(Base):
    """A login password the customer used before (issue 11 #15): its Argon2id hash, as it
    was stored, so that a change or reset can refuse the latest ones again."""

    __tablename__ = "password_history"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    replaced_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Registration(Base):
    """A self-registration waiting for the code sent to the customer's reserved mobile
    (issue 11 #16): the online-banking user is created only when that code is entered.
    Holds the chosen login name and the Argon2id hashes of the chosen passwords until then;
    only a keyed hash of the code is kept, as for every one-time code."""

    __tablename__ = "registrations"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(36), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    username: Mapped[str] = mapped_column(String(32))
    password_hash: Mapped[str] = mapped_column(String(200))
    transaction_pin_hash: Mapped[str] = mapped_column(String(200))
    code_hash: Mapped[str] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # tries on the current code
    code_expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
