"""The first answer is the answer (4.1.5.2-a, ARCHITECTURE rule 4), over HTTP, on both
databases: a business refusal is stored and replayed like a success; an outcome that is not
known is answered 503 `outcome_unknown`, and the retry with the key returns the truth."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from factories import Person, balance, make_person
from factories.bank import DEFAULT_PASSWORD, device_headers, fund
from wangyin.app import create_app
from wangyin.clock import FrozenClock
from wangyin.config import Settings
from wangyin.db import Database
from wangyin.identity.models import User
from wangyin.ledger.models import JournalEntry
from wangyin.payments.models import COMPLETED, PENDING, TransferRequest
from wangyin.uow import run_read, run_write
from wangyin.verify import verify_all


@dataclass
class Api:
    client: TestClient
    db: Database
    clock: FrozenClock
    payer: Person
    payee: Person
    headers: dict[str, str]

    def prepare(self, amount: str, key: str) -> Any:
        return self.client.post(
            "/api/v1/transfers",
            headers={**self.headers, "Idempotency-Key": key},
            json={
                "from_account_id": self.payer.account.public_id,
                "to_account_number": self.payee.account.account_number,
                "payee_name": self.payee.name,
                "amount": amount,
                "currency": "CNY",
            },
        )

    def confirm(self, transfer_id: str, key: str) -> Any:
        return self.client.post(
            f"/api/v1/transfers/{transfer_id}/confirm",
            headers={**self.headers, "Idempotency-Key": key},
            json={},
        )

    def balances(self) -> tuple[int, int]:
        return run_read(
            self.db, lambda s: (balance(s, self.payer.account), balance(s, self.payee.account))
        )


@pytest.fixture
def api(db: Database, clock: FrozenClock, settings: Settings) -> Iterator[Api]:
    def build(s: Session) -> tuple[Person, Person]:
        payer = make_person(s, at=clock.now(), balance_minor=100_00, name="张伟")
        payee = make_person(s, at=clock.now(), balance_minor=0, name="李娜")
        user = s.get_one(User, payer.user.id)
        user.password_free_single_minor = 1_000_00  # small payments need no PIN or code
        user.password_free_daily_minor = 5_000_00
        return payer, payee

    payer, payee = run_write(db, build)
    app = create_app(settings, db=db, clock=clock)
    with TestClient(app, raise_server_exceptions=False) as client:
        device = device_headers(payer.username)
        login = client.post(
            "/api/v1/auth/login",
            json={"login": payer.username, "password": DEFAULT_PASSWORD},
            headers=device,
        )
        assert login.status_code == 200, login.text
        headers = {"Authorization": f"Bearer {login.json()['token']}", **device}
        yield Api(client, db, clock, payer, payee, headers)


def _status(db: Database, transfer_id: str) -> str:
    return run_read(
        db,
        lambda s: s.scalars(
            select(TransferRequest.status).where(TransferRequest.public_id == transfer_id)
        ).one(),
    )


def test_a_refused_confirm_is_replayed_after_the_funds_arrive(api: Api) -> None:
    """Found with a crash-and-resend test: a confirm refused `insufficient_funds` was run
    afresh when re-sent after the payer was credited, and moved the money."""
    first = api.prepare("80.00", "prepare-refused-1")
    assert first.status_code == 201, first.text
    drain = api.prepare("50.00", "prepare-drain-1")
    assert api.confirm(drain.json()["id"], "confirm-drain-1").status_code == 200

    refused = api.confirm(first.json()["id"], "confirm-refused-1")
    assert refused.status_code == 422
    assert refused.json()["code"] == "insufficient_funds"
    assert refused.headers["Idempotent-Replayed"] == "false"
    before = api.balances()

    run_write(api.db, lambda s: fund(s, api.payer.account, 1_000_00, at=api.clock.now()))
    for _ in range(3):  # three and more replays: all the first answer
        again = api.confirm(first.json()["id"], "confirm-refused-1")
        assert again.status_code == 422
        assert again.json()["code"] == "insufficient_funds"
        assert again.headers["Idempotent-Replayed"] == "true"
    assert api.balances() == (before[0] + 1_000_00, before[1])
    assert _status(api.db, first.json()["id"]) == PENDING
    # A new key is a new request: now it goes through, once.
    assert api.confirm(first.json()["id"], "confirm-refused-2").status_code == 200
    assert api.balances() == (before[0] + 1_000_00 - 80_00, before[1] + 80_00)
    assert verify_all(api.db).ok


def test_every_replay_of_a_success_returns_the_first_answer(api: Api) -> None:
    prepared = api.prepare("10.00", "prepare-success-1")
    tid = prepared.json()["id"]
    first = api.confirm(tid, "confirm-success-1")
    assert first.status_code == 200
    for _ in range(3):
        again = api.confirm(tid, "confirm-success-1")
        assert again.status_code == 200
        assert again.json() == first.json()
        assert again.headers["Idempotent-Replayed"] == "true"
    assert api.balances() == (90_00, 10_00)
    # Same key, other request: refused, and the first answer stays stored.
    other = api.confirm(prepared.json()["id"] + "x", "confirm-success-1")
    assert other.json()["code"] == "idempotency_key_reused"


def test_malformed_requests_are_not_stored(api: Api) -> None:
    """A schema error never reached the action: the same key then serves a good request."""
    bad = api.client.post(
        "/api/v1/transfers",
        headers={**api.headers, "Idempotency-Key": "prepare-malformed-1"},
        json={"amount": "1"},
    )
    assert bad.status_code == 422
    assert bad.json()["code"] == "validation_error"
    good = api.prepare("1.00", "prepare-malformed-1")
    assert good.status_code == 201, good.text
    assert good.headers["Idempotent-Replayed"] == "false"


def test_a_lost_commit_acknowledgement_is_outcome_unknown_then_the_retry_tells_the_truth(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The connection breaks right after COMMIT reached the server: the transfer is
    COMPLETED, but the client never heard. It must not be told "nothing changed"."""
    if api.db.is_sqlite:
        pytest.skip("an in-process database has no acknowledgement to lose")
    tid = api.prepare("25.00", "prepare-lost-ack-1").json()["id"]
    dialect_class = type(api.db.engine.dialect)
    real_commit = dialect_class.do_commit
    dropped: list[int] = []

    url = api.db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)

    def commit_then_drop(self: Any, dbapi_connection: Any) -> None:
        real_commit(self, dbapi_connection)
        if dropped:
            return
        dropped.append(1)
        # The server goes away right after COMMIT: this client never hears the answer.
        raw = getattr(dbapi_connection, "dbapi_connection", dbapi_connection)
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", [raw.info.backend_pid])
        raw.execute("SELECT 1")  # raises: the server closed the connection

    monkeypatch.setattr(dialect_class, "do_commit", commit_then_drop)
    unknown = api.confirm(tid, "confirm-lost-ack-1")
    monkeypatch.undo()
    assert unknown.status_code == 503, unknown.text
    body = unknown.json()
    assert body["code"] == "outcome_unknown"
    assert "没有任何变动" not in body["detail"]
    assert unknown.headers.get("Retry-After")
    assert _status(api.db, tid) == COMPLETED  # it did happen

    retried = api.confirm(tid, "confirm-lost-ack-1")
    assert retried.status_code == 200, retried.text
    assert retried.json()["status"] == COMPLETED
    assert retried.headers["Idempotent-Replayed"] == "true"
    assert api.balances() == (75_00, 25_00)
    transfers = run_read(
        api.db,
        lambda s: s.scalar(
            select(func.count(JournalEntry.id)).where(JournalEntry.kind == "transfer")
        ),
    )
    assert transfers == 1  # booked once
    assert verify_all(api.db).ok
