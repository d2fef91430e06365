"""One-time codes (4.3.1.3, 4.3.1.4, ASVS5-6.5.x, ASVS5-6.6.2, PSD2-RTS-5) on both databases.

Each test drives the real services (`otp.issue`, `otp.check` - which counts a wrong try in
its own transaction - and the transfer prepare -> code -> confirm) and reads the code the
way a customer does: from the message the bank queued for their phone.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest
from sqlalchemy import text, update
from sqlalchemy.orm import Session

from factories import Person, make_person
from factories.bank import DEFAULT_PIN
from factories.transfers import latest_code
from factories.transfers import prepare as prepare_transfer
from wangyin.clock import FrozenClock
from wangyin.config import Settings
from wangyin.db import Database
from wangyin.errors import DomainError
from wangyin.identity import otp
from wangyin.identity.models import OtpCode, User
from wangyin.notify import service as notify
from wangyin.payments import service as payments
from wangyin.payments.models import COMPLETED, TransferRequest
from wangyin.security.audit import Client
from wangyin.security.crypto import keyed_hash
from wangyin.uow import run_read, run_write

CHANNELS = ["sms", "voice"]


@pytest.fixture
def person(db: Database, clock: FrozenClock) -> Person:
    return run_write(db, lambda s: make_person(s, at=clock.now()))


def issue(
    db: Database,
    person: Person,
    clock: FrozenClock,
    settings: Settings,
    *,
    purpose: str = "login",
    binding: str = "challenge-1",
    channel: str = "sms",
) -> str:
    """Ask for a code and return what arrived on the customer's phone."""

    def action(s: Session) -> str:
        otp.issue(
            s,
            user=s.get_one(User, person.user.id),
            purpose=purpose,
            binding=binding,
            channel=channel,
            at=clock.now(),
            settings=settings,
        )
        s.flush()
        return latest_code(s, person.customer.mobile)

    return run_write(db, action)


def check(
    db: Database,
    person: Person,
    clock: FrozenClock,
    settings: Settings,
    code: str,
    *,
    purpose: str = "login",
    binding: str = "challenge-1",
) -> None:
    run_write(
        db,
        lambda s: otp.check(
            s,
            user_id=person.user.id,
            purpose=purpose,
            binding=binding,
            code=code,
            at=clock.now(),
            settings=settings,
        ),
    )


def refusal(fn, *args, **kwargs) -> DomainError:  # type: ignore[no-untyped-def]
    with pytest.raises(DomainError) as info:
        fn(*args, **kwargs)
    return info.value


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


# --- 4.3.1.3 / ASVS5-6.5.3/6.5.4: six digits from the CSPRNG ------------------------------


def test_otp_is_six_digits_drawn_from_the_csprng(
    db: Database,
    person: Person,
    clock: FrozenClock,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """ASVS5-6.5.3/6.5.4, 4.3.1.3-a: the code comes from `secrets` over 10^6 values (~20 bits)
    and is always six digits, leading zeros included."""
    import secrets as real_secrets

    calls: list[int] = []

    def spy(upper: int) -> int:
        calls.append(upper)
        return 42

    monkeypatch.setattr(otp.secrets, "randbelow", spy)
    assert otp.secrets is real_secrets
    assert issue(db, person, clock, settings) == "000042"
    assert calls == [10**6]
    monkeypatch.undo()
    codes = {issue(db, person, clock, settings, binding=f"b{i}") for i in range(5)}
    assert all(len(c) == 6 and c.isdigit() for c in codes)


def test_otp_is_stored_only_as_a_keyed_hash(
    db: Database, person: Person, clock: FrozenClock, settings: Settings
) -> None:
    """ASVS5-6.5.x, 4.3.1.3-a: otp_codes holds an HMAC keyed with the server secret, bound to
    purpose and binding; neither the code nor its plain hash is stored anywhere in the row."""
    code = issue(db, person, clock, settings, binding="bind-xyz")
    rows = run_read(
        db, lambda s: [tuple(r) for r in s.execute(text("SELECT * FROM otp_codes")).all()]
    )
    assert len(rows) == 1
    stored = " ".join(str(v) for v in rows[0])
    assert code not in stored
    assert hashlib.sha256(code.encode()).hexdigest() not in stored
    code_hash = run_read(db, lambda s: s.query(OtpCode).one().code_hash)
    assert code_hash == keyed_hash(settings.secret_key.encode(), f"login|bind-xyz|{code}".encode())


# --- 4.3.1.3-a / 4.3.1.4-a: once only, 60 seconds -------------------------------------


@pytest.mark.parametrize("channel", CHANNELS)
def test_otp_is_valid_only_once(
    db: Database, person: Person, clock: FrozenClock, settings: Settings, channel: str
) -> None:
    """4.3.1.3-a, 4.3.1.4-a, ASVS5-6.5.1: a code that was accepted cannot be used again."""
    code = issue(db, person, clock, settings, channel=channel)
    check(db, person, clock, settings, code)
    assert refusal(check, db, person, clock, settings, code).code == "otp_invalid"


@pytest.mark.parametrize("channel", CHANNELS)
def test_otp_expires_after_60_seconds(
    db: Database, person: Person, clock: FrozenClock, settings: Settings, channel: str
) -> None:
    """4.3.1.3-a, 4.3.1.4-a: 59 s after sending the code works, 61 s after it is expired."""
    start = clock.now()
    first = issue(db, person, clock, settings, channel=channel, binding="early")
    clock.advance(seconds=59)
    check(db, person, clock, settings, first, binding="early")

    clock.set(start)
    late = issue(db, person, clock, settings, channel=channel, binding="late")
    clock.advance(seconds=61)
    assert refusal(check, db, person, clock, settings, late, binding="late").code == "otp_expired"


@pytest.mark.parametrize("channel", CHANNELS)
def test_otp_three_wrong_tries_spend_the_code(
    db: Database, person: Person, clock: FrozenClock, settings: Settings, channel: str
) -> None:
    """4.3.1.3-a, ASVS5-6.6.3: two wrong tries leave the code usable; the third spends it,
    so even the right code is then refused."""
    code = issue(db, person, clock, settings, channel=channel, binding="two")
    for _ in range(2):
        assert refusal(check, db, person, clock, settings, wrong(code), binding="two").code == (
            "otp_invalid"
        )
    check(db, person, clock, settings, code, binding="two")

    code = issue(db, person, clock, settings, channel=channel, binding="three")
    for _ in range(3):
        refusal(check, db, person, clock, settings, wrong(code), binding="three")
    # Each wrong try was counted by the transaction that refused it (issue 11 #2).
    assert run_read(db, lambda s: s.query(OtpCode).filter_by(binding="three").one().attempts) == 3
    assert refusal(check, db, person, clock, settings, code, binding="three").code == (
        "otp_too_many_attempts"
    )


def test_otp_newer_code_invalidates_the_older_one(
    db: Database, person: Person, clock: FrozenClock, settings: Settings
) -> None:
    """ASVS5-6.6.2, 4.3.1.3-a: asking again for the same step retires the earlier code."""
    old = issue(db, person, clock, settings)
    new = issue(db, person, clock, settings)
    if old != new:
        assert refusal(check, db, person, clock, settings, old).code == "otp_invalid"
    check(db, person, clock, settings, new)


# --- 4.3.1.3-b / 4.3.1.4-b: daily cap ---------------------------------------------------


@pytest.mark.parametrize("channel", CHANNELS)
def test_otp_daily_cap_of_10_resets_the_next_shanghai_day(
    db: Database, person: Person, clock: FrozenClock, settings: Settings, channel: str
) -> None:
    """4.3.1.3-b, 4.3.1.4-b: at most 10 codes a customer a bank day (all purposes); the 11th
    is refused with `otp_daily_cap`, still at 23:59:59 Shanghai, and allowed again at 00:00."""
    assert settings.otp_daily_cap == 10
    for i in range(10):
        issue(db, person, clock, settings, channel=channel, binding=f"cap-{i}")
        clock.advance(minutes=30)
    error = refusal(issue, db, person, clock, settings, channel=channel, purpose="transfer")
    assert error.code == "otp_daily_cap"
    assert error.params["cap"] == 10
    assert error.status == 429
    # 2026-03-02 23:59:59 in Shanghai is 15:59:59 UTC.
    clock.set(datetime(2026, 3, 2, 15, 59, 59, tzinfo=UTC))
    assert refusal(issue, db, person, clock, settings, channel=channel).code == "otp_daily_cap"
    clock.set(datetime(2026, 3, 2, 16, 0, 0, tzinfo=UTC))
    code = issue(db, person, clock, settings, channel=channel, binding="tomorrow")
    check(db, person, clock, settings, code, binding="tomorrow")


@pytest.mark.parametrize("channel", CHANNELS)
def test_otp_goes_out_on_the_requested_channel_to_the_reserved_phone(
    db: Database, person: Person, clock: FrozenClock, settings: Settings, channel: str
) -> None:
    """4.3.1.4-a: a voice code is a voice message to the phone registered with the bank."""
    issue(db, person, clock, settings, channel=channel)
    message = run_read(db, lambda s: notify.messages_to(s, phone=person.customer.mobile)[0])
    assert message.channel == channel
    assert message.status == "pending"


# --- PSD2-RTS-5 / 4.1.5.2-c / ASVS5-6.6.2: dynamic linking ---------------------------------


@pytest.fixture
def payee(db: Database, clock: FrozenClock) -> Person:
    return run_write(db, lambda s: make_person(s, at=clock.now()))


def _prepare(
    db: Database, payer: Person, payee: Person, amount: str, clock: FrozenClock, settings: Settings
) -> str:
    _, body, _ = prepare_transfer(
        db,
        payer,
        to=payee.account.account_number,
        payee_name=payee.name,
        amount=amount,
        at=clock.now(),
        settings=settings,
    )
    return str(body["id"])


def _send_transfer_code(
    db: Database, payer: Person, tid: str, clock: FrozenClock, settings: Settings
) -> str:
    def action(s: Session) -> str:
        payments.send_code(
            s,
            customer_id=payer.customer.id,
            transfer_id=tid,
            channel="sms",
            client=Client(),
            at=clock.now(),
            settings=settings,
        )
        s.flush()
        return latest_code(s, payer.customer.mobile)

    return run_write(db, action)


def _confirm(
    db: Database, payer: Person, tid: str, code: str, clock: FrozenClock, settings: Settings
) -> TransferRequest:
    return run_write(
        db,
        lambda s: payments.confirm(
            s,
            customer_id=payer.customer.id,
            transfer_id=tid,
            key_digest=None,
            transaction_password=DEFAULT_PIN,
            code=code,
            at=clock.now(),
            settings=settings,
        ),
    )


def test_transfer_code_cannot_confirm_another_transfer(
    db: Database,
    person: Person,
    payee: Person,
    clock: FrozenClock,
    settings: Settings,
) -> None:
    """PSD2-RTS-5, 4.1.5.2-c, ASVS5-6.6.2: the code texted for transfer 1 (payee tail and amount
    in the text) is bound to its key-data digest and does not confirm transfer 2."""
    first = _prepare(db, person, payee, "100.00", clock, settings)
    second = _prepare(db, person, payee, "200.00", clock, settings)
    code = _send_transfer_code(db, person, first, clock, settings)
    text_sent = run_read(
        db, lambda s: notify.body_of(notify.messages_to(s, phone=person.customer.mobile)[0])
    )
    assert payee.account.account_number[-4:] in text_sent and "100.00" in text_sent
    # Transfer 2 has its own pending code request, so only the binding differs.
    _send_transfer_code(db, person, second, clock, settings)
    assert refusal(_confirm, db, person, second, code, clock, settings).code == (
        "second_factor_invalid"
    )
    assert _confirm(db, person, first, code, clock, settings).status == COMPLETED


def test_transfer_code_does_not_confirm_a_changed_transfer(
    db: Database,
    person: Person,
    payee: Person,
    clock: FrozenClock,
    settings: Settings,
) -> None:
    """PSD2-RTS-5, 4.1.5.2-c: if the amount behind a prepared transfer is changed after the
    code was sent, confirmation is refused and nothing is posted."""
    tid = _prepare(db, person, payee, "100.00", clock, settings)
    code = _send_transfer_code(db, person, tid, clock, settings)
    run_write(
        db,
        lambda s: s.execute(
            update(TransferRequest)
            .where(TransferRequest.public_id == tid)
            .values(amount_minor=900_00)
        ),
    )
    assert refusal(_confirm, db, person, tid, code, clock, settings).code == (
        "transfer_data_changed"
    )
    # And a code is useless against another digest even at the code layer.
    other_digest = "0" * 64
    error = refusal(
        check, db, person, clock, settings, code, purpose="transfer", binding=other_digest
    )
    assert error.code == "otp_invalid"
    status = run_read(db, lambda s: s.query(TransferRequest).filter_by(public_id=tid).one().status)
    assert status != COMPLETED


def test_transfer_confirm_with_a_stale_key_digest_is_refused(
    db: Database,
    person: Person,
    payee: Person,
    clock: FrozenClock,
    settings: Settings,
) -> None:
    """PSD2-RTS-5, 4.1.5.2-c: the client states the digest it showed the customer; a different
    one (the customer saw other data) refuses the confirmation."""
    tid = _prepare(db, person, payee, "100.00", clock, settings)
    code = _send_transfer_code(db, person, tid, clock, settings)
    with pytest.raises(DomainError) as info:
        run_write(
            db,
            lambda s: payments.confirm(
                s,
                customer_id=person.customer.id,
                transfer_id=tid,
                key_digest="f" * 64,
                transaction_password=DEFAULT_PIN,
                code=code,
                at=clock.now(),
                settings=settings,
            ),
        )
    assert info.value.code == "transfer_data_changed"
    assert _confirm(db, person, tid, code, clock, settings).status == COMPLETED
