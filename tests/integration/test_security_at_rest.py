"""Data at rest, logs and masking (4.1.6-c/e, 4.4-b2, 4.1.2.1-e/f, ASVS5-14.2.6).

A realistic journey runs against a *file* SQLite database (WAL mode, as in dev) with the
root logger writing DEBUG to a file; afterwards the raw database and WAL bytes and the log
text must not contain any customer's clear ID number, mobile, card number, password,
transaction PIN or one-time code. Key rotation re-encrypts everything under a new key.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic.script import ScriptDirectory
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from conftest import truncate_all
from factories import make_account, make_customer, make_person
from factories.bank import DEFAULT_PASSWORD, DEFAULT_PIN, card_of, device_headers
from factories.transfers import latest_code
from wangyin import migrate
from wangyin.accounts.models import Card
from wangyin.app import create_app
from wangyin.clock import FrozenClock
from wangyin.config import Settings
from wangyin.db import Database, table_of
from wangyin.identity import otp
from wangyin.identity import service as identity
from wangyin.identity.models import Customer, User
from wangyin.notify import service as notify
from wangyin.notify.models import OutboxMessage
from wangyin.security import audit
from wangyin.security.crypto import sm3
from wangyin.security.fields import FieldIntegrityError, decrypt_value, encrypt_value, lookup_hash
from wangyin.security.keys import Keyring, load_keyring, new_keyring, parse_keyring, use_keyring
from wangyin.uow import run_read, run_write
from wangyin.verify import verify_all

PASSWORD = "Zhuce-Mima-2026"
PIN = "582936"
NEW_PIN = "730419"
RESET_PASSWORD = "Chong-Zhi-8899"
CARD_RE = re.compile(r"^\d{4} \*{4} \*{4} \d{4}$")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    if "channel_encryption" in Settings.model_fields:
        return settings.model_copy(update={"channel_encryption": "optional"})
    return settings


@pytest.fixture
def key_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Iterator[Path]:
    """A fresh keyring in a temporary key file for this test; the process keyring is put
    back afterwards. Its pepper is the process keyring's, so the factories' cached password
    and PIN hashes keep verifying. Rows written under it do not outlive the test (the
    PostgreSQL database is shared by the tests of a worker)."""
    previous = load_keyring()
    ring = replace(new_keyring(), pepper=previous.pepper)
    path = tmp_path / "keys.json"
    path.write_text(ring.to_json())
    monkeypatch.setenv("WANGYIN_KEY_FILE", str(path))
    use_keyring(ring)
    try:
        yield path
    finally:
        use_keyring(previous)
        if "db" in request.fixturenames:
            db: Database = request.getfixturevalue("db")
            if db.engine.dialect.name == "postgresql":
                truncate_all(db)


@pytest.fixture(
    params=[
        pytest.param(False, id="app-logs"),
        pytest.param(True, id="with-sql-echo"),
    ]
)
def debug_log(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Path]:
    """Everything every logger says, at DEBUG, into a file; in the second variant with SQL
    echo on (statements and bound parameters), as an operator debugging would."""
    path = tmp_path / "debug.log"
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s %(args)s"))
    root = logging.getLogger()
    # SQLAlchemy keeps its own loggers at WARNING unless SQL echo is turned on.
    engine = logging.getLogger("sqlalchemy.engine")
    old_levels = root.level, engine.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    if request.param:
        engine.setLevel(logging.INFO)
    try:
        yield path
    finally:
        root.removeHandler(handler)
        root.setLevel(old_levels[0])
        engine.setLevel(old_levels[1])
        handler.close()


def _digits_pattern(value: str) -> re.Pattern[bytes]:
    """`value` as a whole token: not inside a longer run of digits or hex."""
    return re.compile(rb"(?<![0-9A-Fa-f])" + re.escape(value.encode()) + rb"(?![0-9A-Fa-f])")


def leaks(blob: bytes, secrets: set[str]) -> list[str]:
    found = []
    for secret in sorted(secrets):
        if secret.isdigit():
            if _digits_pattern(secret).search(blob):
                found.append(secret)
        elif secret.encode() in blob:
            found.append(secret)
    return found


def _account_number(journey: Journey) -> str:
    for body in journey.bodies:
        if '"accounts"' in body:
            return str(json.loads(body)["accounts"][0]["account_number"])
    raise AssertionError("no accounts response")


class Journey:
    """An app on the given database; every JSON response body is kept for inspection."""

    def __init__(self, client: TestClient, db: Database) -> None:
        self.client, self.db, self.bodies = client, db, []  # type: list[str]

    def call(self, method: str, url: str, status: int, **kwargs: Any) -> Any:
        response = self.client.request(method, url, **kwargs)
        assert response.status_code == status, (url, response.text)
        self.bodies.append(response.text)
        return response.json() if response.content else None

    def code(self, mobile: str) -> str:
        return run_read(self.db, lambda s: latest_code(s, mobile))


def run_customer_journey(
    db: Database, clock: FrozenClock, settings: Settings
) -> tuple[Journey, set[str]]:
    def build(s: Session) -> dict[str, str]:
        at = clock.now()
        c = make_customer(s, at=at, name="陈静")
        acct = make_account(s, c, at=at, with_card=True, balance_minor=5_000_00)
        payee = make_person(s, at=at, name="周杰", username="zhoujie")
        return {
            "name": c.name,
            "id_number": c.id_number,
            "mobile": c.mobile,
            "card": card_of(s, acct).number,
            "payee_card": payee.card_number,
            "payee_id": payee.customer.id_number,
            "payee_mobile": payee.customer.mobile,
        }

    p = run_write(db, build)
    app = create_app(settings, db=db, clock=clock)
    secrets = {p["id_number"], p["mobile"], p["card"], p["payee_card"], p["payee_id"]}
    secrets |= {p["payee_mobile"], PASSWORD, PIN, NEW_PIN, RESET_PASSWORD}
    secrets |= {DEFAULT_PASSWORD, DEFAULT_PIN}
    with TestClient(app, raise_server_exceptions=False) as client:
        j = Journey(client, db)
        dev = {"X-Device-Id": "chenjing-phone", "User-Agent": "Mozilla/5.0 (Android 14)"}
        registration = j.call(
            "POST",
            "/api/v1/auth/register",
            202,
            json={
                "name": p["name"],
                "id_number": p["id_number"],
                "mobile": p["mobile"],
                "card_number": p["card"],
                "username": "chenjing",
                "password": PASSWORD,
                "transaction_password": PIN,
            },
        )["registration_id"]
        j.call(
            "POST",
            "/api/v1/auth/register/verify",
            201,
            json={"registration_id": registration, "code": j.code(p["mobile"])},
        )
        challenge = j.call(
            "POST",
            "/api/v1/auth/login",
            200,
            json={"login": p["mobile"], "password": PASSWORD},
            headers=dev,
        )["challenge_id"]
        j.call(
            "POST", "/api/v1/auth/login/code", 204, json={"challenge_id": challenge}, headers=dev
        )
        token = j.call(
            "POST",
            "/api/v1/auth/login/verify",
            200,
            json={
                "challenge_id": challenge,
                "code": j.code(p["mobile"]),
                "id_number": p["id_number"],
            },
            headers=dev,
        )["token"]
        auth = {**dev, "Authorization": f"Bearer {token}"}
        run_write(
            db, lambda s: identity.upgrade_to_professional(s, login="chenjing", at=clock.now())
        )

        overview = j.call("GET", "/api/v1/accounts", 200, headers=auth)
        account = overview["accounts"][0]
        assert CARD_RE.match(account["card_number"]), account
        assert account["card_number"].endswith(p["card"][-4:])
        security = j.call("GET", "/api/v1/security", 200, headers=auth)
        assert security["devices"]

        # A transfer to the payee's *card number*, with PIN and code.
        prepared = j.call(
            "POST",
            "/api/v1/transfers",
            201,
            json={
                "from_account_id": account["id"],
                "to_account_number": p["payee_card"],
                "payee_name": "周杰",
                "amount": "88.00",
                "currency": "CNY",
            },
            headers={**auth, "Idempotency-Key": uuid.uuid4().hex},
        )
        assert "*" in prepared["to_account_number"]
        j.call("POST", f"/api/v1/transfers/{prepared['id']}/code", 204, headers=auth)
        done = j.call(
            "POST",
            f"/api/v1/transfers/{prepared['id']}/confirm",
            200,
            json={"transaction_password": PIN, "code": j.code(p["mobile"])},
            headers={**auth, "Idempotency-Key": uuid.uuid4().hex},
        )
        assert done["status"] == "COMPLETED"

        # Security changes.
        j.call(
            "PUT",
            "/api/v1/security/limits",
            204,
            json={"single_limit": "2000", "daily_limit": "3000"},
            headers=auth,
        )
        j.call("POST", "/api/v1/security/code", 204, json={}, headers=auth)
        j.call(
            "PUT",
            "/api/v1/security/password-free",
            204,
            json={"single": "100", "daily": "300", "code": j.code(p["mobile"])},
            headers=auth,
        )
        j.call(
            "POST",
            "/api/v1/security/transaction-password",
            204,
            json={"old_transaction_password": PIN, "new_transaction_password": NEW_PIN},
            headers=auth,
        )
        j.call("POST", "/api/v1/security/freeze", 204, json={"scope": "all"}, headers=auth)
        j.call("POST", "/api/v1/security/unfreeze/code", 204, json={}, headers=auth)
        j.call(
            "POST",
            "/api/v1/security/unfreeze",
            204,
            json={"code": j.code(p["mobile"]), "transaction_password": NEW_PIN},
            headers=auth,
        )
        j.call("GET", "/api/v1/security/log", 200, headers=auth)

        # Forgotten password, then a login with the new one from the bound phone.
        challenge = j.call(
            "POST",
            "/api/v1/auth/password/reset",
            200,
            json={"id_number": p["id_number"], "card_number": p["card"]},
        )["challenge_id"]
        j.call(
            "POST",
            "/api/v1/auth/password/reset/finish",
            204,
            json={
                "challenge_id": challenge,
                "code": j.code(p["mobile"]),
                "new_password": RESET_PASSWORD,
            },
        )
        j.call(
            "POST",
            "/api/v1/auth/login",
            200,
            json={"login": "chenjing", "password": RESET_PASSWORD},
            headers=dev,
        )
        # The payee logs in from their bound phone and reads their accounts.
        other = j.call(
            "POST",
            "/api/v1/auth/login",
            200,
            json={"login": "zhoujie", "password": DEFAULT_PASSWORD},
            headers=device_headers("zhoujie"),
        )
        j.call(
            "GET", "/api/v1/accounts", 200, headers={"Authorization": f"Bearer {other['token']}"}
        )

    bodies = run_read(db, lambda s: [notify.body_of(m) for m in s.scalars(select(OutboxMessage))])
    codes = {c for b in bodies for c in re.findall(r"(?<!\d)\d{6}(?!\d)", b)}
    assert len(codes) >= 4
    return j, secrets | codes


def test_no_clear_personal_data_or_secret_in_database_file_wal_or_logs(
    sqlite_url: str,
    clock: FrozenClock,
    settings: Settings,
    key_file: Path,
    debug_log: Path,
) -> None:
    """4.1.6-c, 4.4-b2, 4.1.2.1-e: after registration, device binding, a transfer with a
    code, security changes and a password reset, neither the database file, its WAL, nor
    a DEBUG log holds a clear ID number, mobile, card number, password, PIN or code."""
    db = Database(sqlite_url)
    try:
        _journey, secrets = run_customer_journey(db, clock, settings)
        # Encrypted columns hold k1-prefixed ciphertext.
        stored = run_read(
            db,
            lambda s: s.execute(
                text(
                    "SELECT id_number, mobile FROM customers UNION ALL "
                    "SELECT number, number FROM cards"
                )
            ).all(),
        )
        assert stored and all(v.startswith("k1:") and len(v) > 20 for row in stored for v in row)
        outbox = run_read(
            db, lambda s: s.execute(text("SELECT recipient, body FROM outbox_messages")).all()
        )
        assert outbox and all(r.startswith("k1:") and b.startswith("k1:") for r, b in outbox)
    finally:
        db.dispose()  # no checkpoint forced: whatever the WAL holds is read too
    path = Path(sqlite_url.removeprefix("sqlite:///"))
    raw = path.read_bytes()
    wal = Path(f"{path}-wal")
    raw += wal.read_bytes() if wal.exists() else b""
    assert len(raw) > 50_000
    log_text = debug_log.read_bytes()
    # Positive controls: the scan sees what is stored in clear by design (the name, the
    # account number) and the log really has every SQL statement and its parameters.
    assert "陈静".encode() in raw
    assert leaks(raw, {_account_number(_journey)}) != []
    assert b"HTTP Request: POST" in log_text
    assert leaks(raw, secrets) == []
    assert leaks(log_text, secrets) == []


def test_api_responses_show_only_masked_identifiers(
    sqlite_url: str, clock: FrozenClock, settings: Settings, key_file: Path
) -> None:
    """4.1.6-e, ASVS5-14.2.6: no API response in the journey holds a clear ID number, mobile
    or card number; cards show as `6226 **** **** 1234`."""
    db = Database(sqlite_url)
    try:
        journey, secrets = run_customer_journey(db, clock, settings)
    finally:
        db.dispose()
    # ID numbers may end in the check character X; phones and cards are all digits.
    identifiers = {s for s in secrets if s.rstrip("X").isdigit() and len(s) >= 11}
    assert len(identifiers) == 6
    blob = "\n".join(journey.bodies).encode()
    assert leaks(blob, identifiers) == []
    assert re.search(rb"\d{4} \*{4} \*{4} \d{4}", blob)


# --- key rotation ---------------------------------------------------------------------------


def _seed(db: Database, clock: FrozenClock, settings: Settings) -> dict[str, Any]:
    def build(s: Session) -> dict[str, Any]:
        people = [make_person(s, at=clock.now()) for _ in range(3)]
        otp.issue(
            s,
            user=s.get_one(User, people[0].user.id),
            purpose="login",
            binding="rotate",
            channel="sms",
            at=clock.now(),
            settings=settings,
        )
        s.flush()
        return {
            "people": [
                (p.customer.id, p.customer.id_number, p.customer.mobile, p.card_number)
                for p in people
            ],
            "code": latest_code(s, people[0].customer.mobile),
            "first_mobile": people[0].customer.mobile,
        }

    return run_write(db, build)


def _raw_values(db: Database) -> list[str]:
    def read(s: Session) -> list[str]:
        values: list[str] = []
        for query in (
            "SELECT id_number, mobile FROM customers",
            "SELECT number FROM cards",
            "SELECT recipient, body FROM outbox_messages",
        ):
            values += [v for row in s.execute(text(query)).all() for v in row if v]
        return values

    return run_read(db, read)


def test_keys_rotate_reencrypts_everything_under_k2_and_all_still_reads(
    db: Database,
    clock: FrozenClock,
    settings: Settings,
    key_file: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """4.1.2.1-f, 4.1.6-c: `wangyin keys rotate` adds k2 to the key file (k1 kept), rewrites
    every encrypted value under k2, and every value still decrypts, also for a process that
    reads the key file afresh; look-ups by ID number, mobile and card keep working."""
    from wangyin.cli import app

    seeded = _seed(db, clock, settings)
    before = _raw_values(db)
    assert before and all(v.startswith("k1:") for v in before)

    monkeypatch.setenv("WANGYIN_DATABASE_URL", db.engine.url.render_as_string(hide_password=False))
    result = CliRunner().invoke(app, ["keys", "rotate"])
    assert result.exit_code == 0, result.output
    assert "customers.id_number: 3 re-encrypted" in result.output

    on_disk: Keyring = parse_keyring(key_file.read_text())
    assert on_disk.active == "k2" and set(on_disk.keys) == {"k1", "k2"}
    assert (
        json.loads(key_file.read_text())["lookup_key"]
        == base64.b64encode(on_disk.lookup_key).decode()
    )
    after = _raw_values(db)
    assert len(after) == len(before)
    assert all(v.startswith("k2:") for v in after)
    assert not set(before) & set(after)

    use_keyring(None)  # forget the in-memory ring: read the key file as a new process would
    for customer_id, id_number, mobile, card in seeded["people"]:

        def check(s: Session, cid: int = customer_id) -> tuple[str, str]:
            customer = s.get_one(Customer, cid)
            return customer.id_number, customer.mobile

        assert run_read(db, check) == (id_number, mobile)
        user = run_read(db, lambda s, m=mobile: identity.find_user(s, login=m))
        assert user is not None and user.customer_id == customer_id
        assert (
            run_read(
                db,
                lambda s, c=card: s.execute(
                    text("SELECT count(*) FROM cards WHERE number_hash = :h"),
                    {"h": lookup_hash(c)},
                ).scalar(),
            )
            == 1
        )
    assert run_read(db, lambda s: latest_code(s, seeded["first_mobile"])) == seeded["code"]

    # A second rotation moves on to k3 and still reads.
    assert CliRunner().invoke(app, ["keys", "rotate"]).exit_code == 0
    assert all(v.startswith("k3:") for v in _raw_values(db))
    customer_id, id_number, _, _ = seeded["people"][0]
    assert run_read(db, lambda s: s.get_one(Customer, customer_id).id_number) == id_number


# --- encrypted values bound to their row (issue 11 #9) -----------------------------------------


def _two_customers(db: Database, clock: FrozenClock) -> tuple[Any, Any]:
    def build(s: Session) -> tuple[Any, Any]:
        a, b = make_person(s, at=clock.now()), make_person(s, at=clock.now())
        return a, b

    return run_write(db, build)


def _copy(db: Database, table: str, column: str, from_id: int, to_id: int) -> None:
    run_write(
        db,
        lambda s: s.execute(
            text(
                f"UPDATE {table} SET {column} = "  # noqa: S608 - the test's own names
                f"(SELECT {column} FROM {table} WHERE id = :f) WHERE id = :t"
            ),
            {"f": from_id, "t": to_id},
        ),
    )


def test_a_mobile_copied_into_another_customers_row_does_not_decrypt(
    db: Database, clock: FrozenClock
) -> None:
    """Issue 11 #9: someone with the database copies customer A's encrypted mobile (or ID
    number) into customer B's row, so that B's codes would go to A's phone. The value is
    bound to B's row no more: reading it fails with an error naming the column and the row,
    through the ORM and through Core queries over aliases alike, and `verify` lists it."""
    a, b = _two_customers(db, clock)
    _copy(db, "customers", "mobile", a.customer.id, b.customer.id)
    with pytest.raises(FieldIntegrityError) as refused:
        run_read(db, lambda s: s.get_one(Customer, b.customer.id).mobile)
    assert f"customers.mobile of row {b.customer.public_id} does not decrypt" in str(refused.value)
    holder = table_of(Customer).alias("holder")
    with pytest.raises(FieldIntegrityError):
        run_read(
            db,
            lambda s: s.execute(
                select(holder.c.mobile.label("m")).where(holder.c.id == b.customer.id)
            ).one(),
        )
    # A's own row still reads; verify names B's.
    assert run_read(db, lambda s: s.get_one(Customer, a.customer.id).mobile) == a.customer.mobile
    problems = verify_all(db).problems
    assert [p for p in problems if "customers.mobile" in p] == [
        f"customers.mobile of row {b.customer.public_id} does not decrypt: the value was moved "
        f"from another row, or altered (id {b.customer.id})"
    ]
    _copy(db, "customers", "id_number", a.customer.id, b.customer.id)
    assert any("customers.id_number" in p for p in verify_all(db).problems)


def test_a_card_number_copied_into_another_card_row_does_not_decrypt(
    db: Database, clock: FrozenClock
) -> None:
    a, b = _two_customers(db, clock)
    card_ids = run_read(
        db,
        lambda s: [
            s.execute(
                text("SELECT id FROM cards WHERE customer_id = :c"), {"c": p.customer.id}
            ).scalar_one()
            for p in (a, b)
        ],
    )
    _copy(db, "cards", "number", card_ids[0], card_ids[1])
    with pytest.raises(FieldIntegrityError, match=r"cards\.number of row"):
        run_read(db, lambda s: s.get_one(Card, card_ids[1]).number)
    assert any("cards.number" in p for p in verify_all(db).problems)


def test_an_unbound_value_of_the_first_format_is_refused(db: Database, clock: FrozenClock) -> None:
    """A ciphertext of the first format (the field name alone as associated data, as in an
    old backup) planted into a row does not pass for a bound one."""
    a, _ = _two_customers(db, clock)
    planted = encrypt_value("mobile", "13900000000")  # no row: the first format
    run_write(
        db,
        lambda s: s.execute(
            text("UPDATE customers SET mobile = :v WHERE id = :id"),
            {"v": planted, "id": a.customer.id},
        ),
    )
    with pytest.raises(FieldIntegrityError, match="not bound to its row"):
        run_read(db, lambda s: s.get_one(Customer, a.customer.id).mobile)


def test_values_are_written_bound_and_read_back_through_orm_and_core(
    db: Database, clock: FrozenClock
) -> None:
    a, _ = _two_customers(db, clock)
    stored = run_read(
        db,
        lambda s: s.execute(
            text("SELECT id_number, mobile FROM customers WHERE id = :id"), {"id": a.customer.id}
        ).one(),
    )
    assert all(v.startswith(f"{load_keyring().active}:2:") for v in stored)
    cards = table_of(Card)
    number = run_read(
        db,
        lambda s: s.execute(
            select(cards.c.number).where(cards.c.customer_id == a.customer.id)
        ).scalar_one(),
    )
    assert number == a.card_number

    # Changing the value re-encrypts it for the same row; the row's binding cannot be
    # changed under it.
    def change(s: Session) -> None:
        s.get_one(Customer, a.customer.id).mobile = "13911112222"

    run_write(db, change)
    assert run_read(db, lambda s: s.get_one(Customer, a.customer.id).mobile) == "13911112222"

    def rebind(s: Session) -> None:
        customer = s.get_one(Customer, a.customer.id)
        s.expire(customer, ["mobile", "id_number"])
        customer.public_id = "moved"

    with pytest.raises(FieldIntegrityError, match="cannot change on its own"):
        run_write(db, rebind)


def test_keys_rotate_rehashes_lookups_under_a_new_lookup_key_and_keeps_the_binding(
    db: Database,
    clock: FrozenClock,
    settings: Settings,
    key_file: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 11 #15: rotation moves the look-up key on too (l1 -> l2): every look-up hash is
    recomputed, rows are still found by their clear value, and the new values are bound to
    their rows (a swap after rotation still fails). Audit and pepper keys get new versions,
    the old ones kept."""
    from wangyin.cli import app

    a, b = _two_customers(db, clock)
    hashes_before = run_read(
        db, lambda s: s.execute(text("SELECT id_number_hash, mobile_hash FROM customers")).all()
    )
    monkeypatch.setenv("WANGYIN_DATABASE_URL", db.engine.url.render_as_string(hide_password=False))
    result = CliRunner().invoke(app, ["keys", "rotate"])
    assert result.exit_code == 0, result.output
    ring = parse_keyring(key_file.read_text())
    assert (ring.lookup.active, ring.audit.active, ring.pepper.active) == ("l2", "a2", "p2")
    assert set(ring.lookup.keys) == {"l1", "l2"} and ring.lookup_key != ring.lookup.keys["l1"]
    hashes_after = run_read(
        db, lambda s: s.execute(text("SELECT id_number_hash, mobile_hash FROM customers")).all()
    )
    assert not {h for row in hashes_before for h in row} & {h for row in hashes_after for h in row}
    use_keyring(None)  # a new process reads the key file
    for person in (a, b):
        user = run_read(db, lambda s, p=person: identity.find_user(s, login=p.customer.mobile))
        assert user is not None and user.customer_id == person.customer.id
        assert (
            run_read(
                db,
                lambda s, p=person: s.execute(
                    text("SELECT count(*) FROM cards WHERE number_hash = :h"),
                    {"h": lookup_hash(p.card_number)},
                ).scalar(),
            )
            == 1
        )
    stored = run_read(
        db, lambda s: s.execute(text("SELECT mobile, id_number FROM customers")).all()
    )
    assert all(v.startswith("k2:2:") for row in stored for v in row)
    assert verify_all(db).problems == []
    _copy(db, "customers", "mobile", a.customer.id, b.customer.id)
    with pytest.raises(FieldIntegrityError):
        run_read(db, lambda s: s.get_one(Customer, b.customer.id).mobile)


# --- existing data migrates (20261204_0050) ------------------------------------------------

_BEFORE_0050 = str(
    ScriptDirectory.from_config(migrate.alembic_config("sqlite://"))
    .get_revision("20261204_0050")
    .down_revision
)


def _legacy_hash(chain: int, seq: int, at: datetime, details: str, prev: str) -> str:
    """The unkeyed SM3 chain of before 20261204_0050 (chain 0 without its number)."""
    fields = [f"chain:{chain}"] if chain else []
    fields += [str(seq), at.isoformat(), "login", "success", "", "system", "", "", "", details]
    fields.append(prev)
    return sm3(json.dumps(fields, ensure_ascii=False, separators=(",", ":")).encode()).hex()


@pytest.fixture(params=["sqlite", "postgresql"])
def before_0050(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database at the revision before 20261204_0050 (the PostgreSQL one put back after)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'old.db'}"
        migrate.upgrade(url, _BEFORE_0050)
        yield url
        return
    url = str(request.getfixturevalue("pg_url"))
    _emptied(url)
    migrate.downgrade(url, _BEFORE_0050)
    try:
        yield url
    finally:
        migrate.upgrade(url)
        _emptied(url)


def _emptied(url: str) -> None:
    db = Database(url)
    try:
        truncate_all(db)
    finally:
        db.dispose()


def test_upgrade_binds_existing_values_and_keys_existing_chains(before_0050: str) -> None:
    """Values written in the first format are re-encrypted bound to their row; audit chains
    that verify under the old unkeyed SM3 are re-keyed and verify; a chain already broken is
    re-keyed only up to the break, so `verify` still reports the damage."""
    at = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    db = Database(before_0050)
    try:
        with db.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO customers (id, public_id, name, id_number, id_number_hash, "
                    "mobile, mobile_hash, created_at) VALUES (1, 'c-1', '陈静', :i, :ih, :m, "
                    ":mh, :at)"
                ),
                {
                    "i": encrypt_value("id_number", "110105198808080017"),
                    "ih": lookup_hash("110105198808080017"),
                    "m": encrypt_value("mobile", "13912345678"),
                    "mh": lookup_hash("13912345678"),
                    "at": at,
                },
            )
            for chain, damaged in ((0, False), (1, False), (2, True)):
                prev = "0" * 64
                for seq in (1, 2, 3):
                    details = f'{{"n":{seq}}}'
                    digest = _legacy_hash(chain, seq, at, details, prev)
                    if damaged and seq == 2:
                        details = '{"n":99}'  # edited after the fact
                    conn.execute(
                        text(
                            "INSERT INTO audit_records (chain, seq, at, event, outcome, "
                            "customer_id, actor, ip, device_id, client, details, prev_hash, "
                            "hash) VALUES (:c, :s, :at, 'login', 'success', NULL, 'system', "
                            "'', '', '', :d, :p, :h)"
                        ),
                        {"c": chain, "s": seq, "at": at, "d": details, "p": prev, "h": digest},
                    )
                    prev = digest
                conn.execute(
                    text("INSERT INTO audit_head (id, seq, hash) VALUES (:id, 3, :h)"),
                    {"id": chain + 1, "h": prev},
                )
        migrate.upgrade(before_0050)
        stored = run_read(
            db, lambda s: s.execute(text("SELECT id_number, mobile FROM customers")).one()
        )
        assert all(v.startswith(f"{load_keyring().active}:2:") for v in stored)
        customer = run_read(db, lambda s: s.get_one(Customer, 1))
        assert (customer.id_number, customer.mobile) == ("110105198808080017", "13912345678")
        problems = run_read(db, audit.verify_chain)
        assert problems == [
            "audit record 2 does not follow its predecessor (chain 2)",
            "audit record 2 is not keyed (chain 2)",
            "audit record 3 is not keyed (chain 2)",
        ]
        keys = run_read(
            db,
            lambda s: s.execute(
                text("SELECT chain, seq, mac_key FROM audit_records ORDER BY chain, seq")
            ).all(),
        )
        assert {(c, s) for c, s, k in keys if k} == {
            (0, 1),
            (0, 2),
            (0, 3),
            (1, 1),
            (1, 2),
            (1, 3),
            (2, 1),
        }
        # And back: the first format and the unkeyed chain again, still reading.
        migrate.downgrade(before_0050, _BEFORE_0050)
        stored = run_read(
            db, lambda s: s.execute(text("SELECT id_number, mobile FROM customers")).one()
        )
        assert decrypt_value("mobile", stored[1]) == "13912345678"
    finally:
        db.dispose()
