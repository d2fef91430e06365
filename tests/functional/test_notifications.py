"""4.1.5.2-b: every balance change reaches the customer at once (SMS via the outbox)."""

from __future__ import annotations

from functional.conftest import Bank
from wangyin.notify import service as notify
from wangyin.uow import run_read


def _last_text(bank: Bank, phone: str) -> str:
    return run_read(
        bank.db, lambda s: notify.body_of(notify.messages_to(s, phone=phone, limit=1)[0])
    )


def test_a_transfer_texts_both_customers_their_new_balance(bank: Bank) -> None:
    headers = bank.headers["zhangwei"]
    body = {
        "from_account_id": bank.a.account.public_id,
        "to_account_number": bank.b.account.account_number,
        "payee_name": "李娜",
        "amount": "1234.50",
        "currency": "CNY",
        "remark": "房租",
    }
    prepared = bank.client.post(
        "/api/v1/transfers", json=body, headers={**headers, "Idempotency-Key": "notify-prep-1"}
    ).json()
    done = bank.client.post(
        f"/api/v1/transfers/{prepared['id']}/confirm",
        json=bank.factors(prepared["id"], "zhangwei"),
        headers={**headers, "Idempotency-Key": "notify-conf-1"},
    )
    assert done.json()["status"] == "COMPLETED"
    payer = _last_text(bank, bank.a.customer.mobile)
    payee = _last_text(bank, bank.b.customer.mobile)
    assert f"尾号{bank.a.account.account_number[-4:]}" in payer
    assert "转出 1,234.50 CNY" in payer and "余额 8,765.50" in payer
    assert f"尾号{bank.b.account.account_number[-4:]}" in payee
    assert "转入 1,234.50 CNY" in payee and "余额 1,734.50" in payee


def test_the_payers_text_follows_the_language_of_the_request(bank: Bank) -> None:
    """Issue 9: an English-mode payer is texted in English; the payee, who made no request,
    in Chinese."""
    headers = {**bank.headers["zhangwei"], "Accept-Language": "en"}
    prepared = bank.client.post(
        "/api/v1/transfers",
        json={
            "from_account_id": bank.a.account.public_id,
            "to_account_number": bank.b.account.account_number,
            "payee_name": "李娜",
            "amount": "20.00",
            "currency": "CNY",
        },
        headers={**headers, "Idempotency-Key": "notify-prep-en"},
    ).json()
    done = bank.client.post(
        f"/api/v1/transfers/{prepared['id']}/confirm",
        json=bank.factors(prepared["id"], "zhangwei"),
        headers={**headers, "Idempotency-Key": "notify-conf-en"},
    )
    assert done.json()["status"] == "COMPLETED"
    payer = _last_text(bank, bank.a.customer.mobile)
    assert payer.startswith(f"Your account ending {bank.a.account.account_number[-4:]} paid out")
    assert "20.00 CNY" in payer and "balance 9,980.00" in payer
    assert "转入 20.00 CNY" in _last_text(bank, bank.b.customer.mobile)
