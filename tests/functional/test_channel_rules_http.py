"""The channel's rules through the API and the pages (issue 6 §6): a large first payment to
a new payee carries a warning that the confirm page shows with a box to tick, and the API
needs `acknowledge_warnings`; the 5万 rule answers in the customer's words."""

from __future__ import annotations

import re
import uuid

from sqlalchemy import update

from factories import DEFAULT_PASSWORD
from factories.bank import credential_of, fund
from functional.conftest import Bank, assert_problem
from wangyin.identity.models import User
from wangyin.uow import run_write


def _raise_limits(bank: Bank) -> None:
    run_write(
        bank.db,
        lambda s: s.execute(
            update(User)
            .where(User.id == bank.a.user.id)
            .values(single_limit_minor=1_000_000_00, daily_limit_minor=1_000_000_00)
        ),
    )


def _prepare(bank: Bank, amount: str) -> dict:  # type: ignore[type-arg]
    response = bank.client.post(
        "/api/v1/transfers",
        json={
            "from_account_id": bank.a.account.public_id,
            "to_account_number": bank.b.account.account_number,
            "payee_name": "李娜",
            "amount": amount,
            "currency": "CNY",
        },
        headers={**bank.headers["zhangwei"], "Idempotency-Key": uuid.uuid4().hex},
    )
    return response.json()  # type: ignore[no-any-return]


def test_payments_under_1wan_to_a_new_payee_carry_no_warning(bank: Bank) -> None:
    prepared = _prepare(bank, "8000.00")  # the payer has 10,000.00
    assert prepared["warnings"] == [], prepared
    big = bank.client.post(
        "/api/v1/transfers",
        json={
            "from_account_id": bank.a.account.public_id,
            "to_account_number": bank.c.account.account_number,
            "payee_name": "王芳",
            "amount": "9000.00",
            "currency": "CNY",
        },
        headers={**bank.headers["zhangwei"], "Idempotency-Key": uuid.uuid4().hex},
    )
    assert big.json()["warnings"] == []  # under 1万: no warning


def test_new_payee_warning_through_api_and_confirm_page(bank: Bank) -> None:
    _raise_limits(bank)
    # Enough money for a large first payment.
    run_write(bank.db, lambda s: fund(s, bank.a.account, 100_000_00, at=bank.clock.now()))
    prepared = _prepare(bank, "20000.00")
    assert prepared["warnings"] == ["new_payee"]
    tid = prepared["id"]
    headers = bank.headers["zhangwei"]
    factors = bank.factors(tid, "zhangwei")
    refused = bank.client.post(
        f"/api/v1/transfers/{tid}/confirm",
        json=factors,
        headers={**headers, "Idempotency-Key": uuid.uuid4().hex},
    )
    body = assert_problem(refused, "warnings_not_acknowledged", 422)
    assert "提示" in body["detail"]

    # The page shows the warning and a box that must be ticked.
    client = bank.client
    client.cookies.set("wy_device", credential_of("zhangwei"))
    page = client.get("/login")
    csrf = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    client.post(
        "/login",
        data={"login": "zhangwei", "password": DEFAULT_PASSWORD, "csrf_token": csrf},
        follow_redirects=False,
    )
    confirm = client.get(f"/transfer/{tid}/confirm").text
    assert 'data-testid="warning-new-payee"' in confirm and "防诈骗提示" in confirm
    assert re.search(r'name="acknowledge_warnings"[^>]*required', confirm)

    done = bank.client.post(
        f"/api/v1/transfers/{tid}/confirm",
        json={**factors, "acknowledge_warnings": True},
        headers={**headers, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "COMPLETED" and done.json()["warnings"] == ["new_payee"]


def test_the_5wan_rule_names_the_counter_and_the_certificate(bank: Bank) -> None:
    _raise_limits(bank)
    run_write(bank.db, lambda s: fund(s, bank.a.account, 100_000_00, at=bank.clock.now()))
    response = bank.client.post(
        "/api/v1/transfers",
        json={
            "from_account_id": bank.a.account.public_id,
            "to_account_number": bank.b.account.account_number,
            "payee_name": "李娜",
            "amount": "50000.01",
            "currency": "CNY",
        },
        headers={
            **bank.headers["zhangwei"],
            "Idempotency-Key": uuid.uuid4().hex,
            "Accept-Language": "en",
        },
    )
    body = assert_problem(response, "certificate_required", 422)
    assert "50,000.00" in body["detail"] and "counter" in body["detail"]
    assert "certificate" in body["detail"]
