"""Attacks on the money path (issue 11 #12 and the rules no test noticed): enumerating
payees through prepare, and a transfer code reused for another payee."""

from __future__ import annotations

from sqlalchemy.orm import Session

from factories import make_account
from factories.bank import DEFAULT_PIN
from factories.transfers import latest_code
from security.conftest import Bank, assert_problem, prepare
from wangyin.client import WangyinClient
from wangyin.identity.models import Customer, User
from wangyin.payments.service import PAYEE_MISSES_PER_HOUR
from wangyin.uow import run_read, run_write


def test_prepare_is_no_payee_oracle(bank: Bank) -> None:
    """Each customer may miss a payee (unknown number, or a name that is not the holder's)
    so many times an hour; then prepare is refused, even a correct one, until the hour
    ends. Another customer is not affected."""
    for n in range(PAYEE_MISSES_PER_HOUR):
        if n % 2:
            miss = prepare(bank, payee_name="王五")
            assert_problem(miss, "payee_name_mismatch")
        else:
            miss = prepare(bank, to_account_number="6217000000000000000")
            assert_problem(miss, "payee_not_found")
    refused = prepare(bank)  # right number, right name: still refused
    body = assert_problem(refused, "rate_limited", status=429)
    assert int(refused.headers["Retry-After"]) > 0, body
    assert prepare(bank, who="lina", to_account_number=bank.a.account.account_number,
                   payee_name="张伟", from_account_id=bank.b.account.public_id).status_code == 201

    bank.clock.advance(hours=1, seconds=1)
    bank.headers["zhangwei"] = bank.login("zhangwei")  # the session idled out meanwhile
    assert prepare(bank).status_code == 201


def test_prepare_refusals_below_the_limit_do_not_block(bank: Bank) -> None:
    for _ in range(PAYEE_MISSES_PER_HOUR - 1):
        assert_problem(prepare(bank, payee_name="王五"), "payee_name_mismatch")
    assert prepare(bank).status_code == 201


def test_a_transfer_code_is_bound_to_the_payee_account(bank: Bank) -> None:
    """PSD2-RTS-5 dynamic linking: the code texted for a transfer to one account does not
    confirm a transfer of the same amount, at the same second, to the same holder's other
    account: the payee account itself is in the bound data, not only the name."""
    def second_account(s: Session) -> str:
        holder = s.get_one(Customer, bank.b.customer.id)
        return make_account(s, holder, at=bank.clock.now(), balance_minor=0).account_number

    other = run_write(bank.db, second_account)
    headers = bank.headers["zhangwei"]
    to_lina = prepare(bank, amount="2000.00")
    to_other = prepare(bank, amount="2000.00", to_account_number=other)
    assert to_lina.status_code == to_other.status_code == 201
    assert to_lina.json()["second_factor_required"] is True
    sent = bank.client.post(f"/api/v1/transfers/{to_lina.json()['id']}/code", headers=headers)
    assert sent.status_code == 204
    code = run_read(bank.db, lambda s: latest_code(s, bank.a.customer.mobile))
    stolen = bank.client.post(
        f"/api/v1/transfers/{to_other.json()['id']}/confirm",
        json={"transaction_password": "258147", "code": code},
        headers={**headers, "Idempotency-Key": "confirm-with-another-payees-code"},
    )
    assert stolen.status_code == 422, stolen.text
    assert stolen.json()["code"] in {"otp_invalid", "second_factor_invalid"}
    assert bank.balances()[other] == "0.00"


def test_a_strangers_channel_cannot_confirm_a_transfer_in_a_customers_session(bank: Bank) -> None:
    """Issue 11 #14 over HTTP: the transaction password and code sealed under a stranger's
    anonymous channel are refused by the confirm route of a customer's session, before
    anything is checked; nothing moves."""
    prepared = prepare(bank, amount="2000.00")
    tid = prepared.json()["id"]
    stranger = WangyinClient(http=bank.client)  # type: ignore[arg-type]
    refused = bank.client.post(
        f"/api/v1/transfers/{tid}/confirm",
        json={
            "transaction_password": stranger.seal("transaction_password", DEFAULT_PIN),
            "code": stranger.seal("code", "123456"),
        },
        headers={**bank.headers["zhangwei"], "Idempotency-Key": "confirm-under-strangers-channel"},
    )
    assert_problem(refused, "channel_invalid")
    assert bank.balances()[bank.b.account.account_number] == "500.00"


def test_limits_are_in_cny_and_other_currencies_count_at_the_stated_rate(bank: Bank) -> None:
    """Issue 11 #5: password-free 1,000/5,000 CNY let foreign-currency transfers through as
    if their units were yuan. 150.00 USD is 1,095.00 CNY at the stated 7.30: over the
    password-free 1,000, so it needs the PIN and code; the rates are stated to the customer."""

    def usd_accounts(s: Session) -> tuple[str, str]:
        user = s.get_one(User, bank.a.user.id)
        user.password_free_single_minor = 1_000_00
        user.password_free_daily_minor = 5_000_00
        payer = s.get_one(Customer, bank.a.customer.id)
        payee = s.get_one(Customer, bank.b.customer.id)
        source = make_account(
            s, payer, at=bank.clock.now(), currency="USD", balance_minor=10_000_00
        )
        target = make_account(s, payee, at=bank.clock.now(), currency="USD")
        return source.public_id, target.account_number

    source, target = run_write(bank.db, usd_accounts)
    usd = {"from_account_id": source, "to_account_number": target, "currency": "USD"}
    small = prepare(bank, amount="130.00", **usd)  # 949.00 CNY: password-free
    assert small.status_code == 201, small.text
    assert small.json()["second_factor_required"] is False
    large = prepare(bank, amount="150.00", **usd)  # 1,095.00 CNY: PIN and code
    assert large.status_code == 201, large.text
    assert large.json()["second_factor_required"] is True

    shown = bank.client.get("/api/v1/security", headers=bank.headers["zhangwei"]).json()
    assert shown["limits"]["currency"] == "CNY"
    assert shown["limits"]["cny_rates"]["USD"] == "7.30"
