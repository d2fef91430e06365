"""Issue 9 §1: what the bank texts is in the customer's language - the language of the
request that caused it - and the transfer code warns never to tell it to anyone."""

from __future__ import annotations

from factories.bank import device_headers
from functional.conftest import Bank
from functional.test_security_login import WRONG, messages
from wangyin.notify import service as notify


def _texts(bank: Bank, who: str, purpose: str) -> list[str]:
    return [notify.body_of(m) for m in messages(bank, who) if m.purpose == purpose]


def test_lock_and_code_texts_follow_the_language(bank: Bank) -> None:
    for _ in range(5):
        bank.client.post(
            "/api/v1/auth/login",
            json={"login": "lina", "password": WRONG},
            headers={**device_headers("lina"), "Accept-Language": "en"},
        )
    (locked,) = _texts(bank, "lina", "login_locked")
    assert locked.startswith("Your online banking password was wrong 5 times in a row")
    for _ in range(5):
        bank.client.post(
            "/api/v1/auth/login",
            json={"login": "wangfang", "password": WRONG},
            headers=device_headers("wangfang"),
        )
    (chinese,) = _texts(bank, "wangfang", "login_locked")
    assert chinese.startswith("您的网上银行登录密码已连续输错 5 次")


def test_transfer_code_in_english_with_the_warning(bank: Bank) -> None:
    headers = bank.headers["zhangwei"]
    body = {
        "from_account_id": bank.a.account.public_id,
        "to_account_number": bank.b.account.account_number,
        "payee_name": "李娜",
        "amount": "12.34",
        "currency": "CNY",
    }
    prepared = bank.client.post(
        "/api/v1/transfers", json=body, headers={**headers, "Idempotency-Key": "texts-en-1"}
    )
    assert prepared.status_code in (200, 201), prepared.text
    tid = prepared.json()["id"]
    for lang, warning in (("en", "Never tell anyone this code"), ("zh", "切勿告诉任何人")):
        sent = bank.client.post(
            f"/api/v1/transfers/{tid}/code", headers={**headers, "Accept-Language": lang}
        )
        assert sent.status_code == 204, sent.text
        latest = _texts(bank, "zhangwei", "transfer")[0]
        assert warning in latest and "12.34" in latest
