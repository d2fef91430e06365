"""An app on a fresh SQLite database with a frozen clock, and a few customers in it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from factories import DEFAULT_PASSWORD, Person, make_person
from factories.bank import DEFAULT_PIN, device_headers, track_devices
from factories.transfers import latest_code
from wangyin.app import create_app
from wangyin.clock import FrozenClock
from wangyin.config import Settings
from wangyin.db import Database
from wangyin.identity import service as identity
from wangyin.identity.models import Customer
from wangyin.uow import run_read, run_write


@dataclass
class Bank:
    client: TestClient
    db: Database
    clock: FrozenClock
    settings: Settings
    a: Person  # 张伟, professional, 10,000.00
    b: Person  # 李娜, professional, 500.00
    c: Person  # 王芳, public edition, 100.00

    def login(
        self, who: str, password: str = DEFAULT_PASSWORD, device: str | None = None
    ) -> dict[str, str]:
        """Log in from the user's bound phone (its credential); from another device (a
        name, which binds nothing), answer the challenge with the texted code and the ID
        number, as a customer would."""
        device_header = {"X-Device-Id": device} if device else device_headers(who)
        response = self.client.post(
            "/api/v1/auth/login",
            json={"login": who, "password": password},
            headers=device_header,
        )
        assert response.status_code == 200, response.text
        body = response.json()
        if body["status"] == "challenge_required":
            challenge = body["challenge_id"]
            sent = self.client.post(
                "/api/v1/auth/login/code",
                json={"challenge_id": challenge},
                headers=device_header,
            )
            assert sent.status_code == 204, sent.text
            mobile, id_number = run_read(self.db, lambda s: _phone_and_id(s, who))
            response = self.client.post(
                "/api/v1/auth/login/verify",
                json={
                    "challenge_id": challenge,
                    "code": self.last_code(mobile),
                    "id_number": id_number,
                },
                headers=device_header,
            )
            assert response.status_code == 200, response.text
            body = response.json()
        return {"Authorization": f"Bearer {body['token']}", **device_header}

    def last_code(self, phone: str) -> str:
        return run_read(self.db, lambda s: latest_code(s, phone))

    def factors(self, tid: str, who: str) -> dict[str, str]:
        """The transaction password and the code texted for this transfer (asked once per
        transfer, so a re-sent confirm carries the same values)."""
        if tid not in self._factors:
            sent = self.client.post(f"/api/v1/transfers/{tid}/code", headers=self.headers[who])
            if sent.status_code != 204:
                return {}
            mobile, _ = run_read(self.db, lambda s: _phone_and_id(s, who))
            self._factors[tid] = {
                "transaction_password": DEFAULT_PIN,
                "code": self.last_code(mobile),
            }
        return self._factors[tid]

    def balances(self) -> dict[str, str]:
        """Every customer's balance, read through the API as each of them."""
        seen = {}
        for person in (self.a, self.b, self.c):
            response = self.client.get("/api/v1/accounts", headers=self.headers[person.username])
            if response.status_code == 401:  # idle timeout while the test moved the clock
                self.headers[person.username] = self.login(person.username)
                response = self.client.get(
                    "/api/v1/accounts", headers=self.headers[person.username]
                )
            for account in response.json()["accounts"]:
                seen[account["account_number"]] = account["balance"]
        return seen

    headers: dict[str, dict[str, str]] | None = None  # type: ignore[assignment]
    _factors: dict[str, dict[str, str]] = field(default_factory=dict)


def _phone_and_id(s: Session, login: str) -> tuple[str, str]:
    user = identity.find_user(s, login=login)
    assert user is not None, login
    customer = s.get_one(Customer, user.customer_id)
    return customer.mobile, customer.id_number


@pytest.fixture
def bank(sqlite_db: Database, clock: FrozenClock, settings: Settings) -> Iterator[Bank]:
    def build(s: Session) -> tuple[Person, Person, Person]:
        at = clock.now()
        return (
            make_person(s, at=at, name="张伟", username="zhangwei", balance_minor=10_000_00),
            make_person(s, at=at, name="李娜", username="lina", balance_minor=500_00),
            make_person(
                s, at=at, name="王芳", username="wangfang", balance_minor=100_00, edition="public"
            ),
        )

    a, b, c = run_write(sqlite_db, build)
    app = create_app(settings, db=sqlite_db, clock=clock)
    with TestClient(app, raise_server_exceptions=False) as client:
        track_devices(client)  # the bound phones keep the credential each login answers
        bank = Bank(client, sqlite_db, clock, settings, a, b, c)
        bank.headers = {p.username: bank.login(p.username) for p in (a, b, c)}
        yield bank


def assert_problem(response, code: str, status: int | None = None) -> dict:  # type: ignore[no-untyped-def, type-arg]
    """An RFC 9457 problem with a stable machine code."""
    assert response.status_code < 500, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.text
    body = response.json()
    assert body["code"] == code, body
    assert body["status"] == response.status_code
    assert body["type"] == f"urn:wangyin:problem:{code}"
    if status is not None:
        assert response.status_code == status
    return body
