"""E-receipts (电子回单, issue 6 §7): every completed transfer has a reference and a
verification code, a PDF whose Chinese text is real text, and a public page where anyone
checks it; an altered receipt, a wrong code, someone else's transfer say nothing."""

from __future__ import annotations

import io
import uuid

from pypdf import PdfReader
from sqlalchemy import update

from factories import DEFAULT_PASSWORD
from factories.bank import credential_of
from functional.conftest import Bank, assert_problem
from wangyin.payments.models import TransferRequest
from wangyin.security.keys import load_keyring, use_keyring
from wangyin.uow import run_write


def _pay(bank: Bank, amount: str = "123.45", confirm: bool = True) -> str:
    headers = bank.headers["zhangwei"]
    prepared = bank.client.post(
        "/api/v1/transfers",
        json={
            "from_account_id": bank.a.account.public_id,
            "to_account_number": bank.b.account.account_number,
            "payee_name": "李娜",
            "amount": amount,
            "currency": "CNY",
            "remark": "房租",
        },
        headers={**headers, "Idempotency-Key": uuid.uuid4().hex},
    )
    tid: str = prepared.json()["id"]
    if confirm:
        done = bank.client.post(
            f"/api/v1/transfers/{tid}/confirm",
            json=bank.factors(tid, "zhangwei"),
            headers={**headers, "Idempotency-Key": uuid.uuid4().hex},
        )
        assert done.status_code == 200, done.text
    return tid


def _verify(bank: Bank, reference: str, code: str):  # type: ignore[no-untyped-def]
    return bank.client.post("/api/v1/receipts/verify", json={"reference": reference, "code": code})


def test_a_receipt_verifies_and_an_altered_one_does_not(bank: Bank) -> None:
    tid = _pay(bank)
    receipt = bank.client.get(
        f"/api/v1/transfers/{tid}/receipt", headers=bank.headers["zhangwei"]
    ).json()
    assert receipt["reference"] == tid and receipt["amount"] == "123.45"
    code = receipt["verification_code"]
    assert code.startswith("a1-") and len(code) == 17

    bank.client.cookies.clear()  # the public check needs no login
    checked = _verify(bank, tid, code.lower().replace("-", " - "))
    assert checked.status_code == 200, checked.text
    body = checked.json()
    assert body["amount"] == "123.45" and body["payee_name"] == "李*"
    assert bank.b.account.account_number not in checked.text  # masked
    assert bank.b.account.account_number[-4:] in body["payee_account"]

    for reference, wrong in (
        (tid, code[:-1] + ("A" if code[-1] != "A" else "B")),
        (str(uuid.uuid4()), code),
        (tid, "nonsense"),
    ):
        assert_problem(_verify(bank, reference, wrong), "receipt_not_verified", 404)

    # The amount edited in the database: the receipt no longer verifies.
    run_write(
        bank.db,
        lambda s: s.execute(
            update(TransferRequest)
            .where(TransferRequest.public_id == tid)
            .values(amount_minor=12_345_00)
        ),
    )
    assert_problem(_verify(bank, tid, code), "receipt_not_verified", 404)


def test_codes_keep_verifying_after_keys_rotate(bank: Bank) -> None:
    tid = _pay(bank)
    code = bank.client.get(
        f"/api/v1/transfers/{tid}/receipt", headers=bank.headers["zhangwei"]
    ).json()["verification_code"]
    previous = load_keyring()
    use_keyring(previous.rotated())
    try:
        assert _verify(bank, tid, code).status_code == 200
        newer = bank.client.get(
            f"/api/v1/transfers/{tid}/receipt", headers=bank.headers["zhangwei"]
        ).json()["verification_code"]
        assert newer.startswith("a2-") and _verify(bank, tid, newer).status_code == 200
    finally:
        use_keyring(previous)


def test_only_the_payers_completed_transfers_have_receipts(bank: Bank) -> None:
    tid = _pay(bank)
    pending = _pay(bank, "1.00", confirm=False)
    assert_problem(
        bank.client.get(f"/api/v1/transfers/{tid}/receipt", headers=bank.headers["lina"]),
        "receipt_not_found",
        404,
    )
    assert_problem(
        bank.client.get(
            f"/api/v1/transfers/{pending}/receipt.pdf", headers=bank.headers["zhangwei"]
        ),
        "receipt_not_found",
        404,
    )


def test_the_pdf_carries_the_receipt_in_chinese_text(bank: Bank) -> None:
    tid = _pay(bank)
    response = bank.client.get(
        f"/api/v1/transfers/{tid}/receipt.pdf", headers=bank.headers["zhangwei"]
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")
    text = PdfReader(io.BytesIO(response.content)).pages[0].extract_text()
    for expected in ("电子回单", "张伟", "李娜", "123.45", tid, "房租"):
        assert expected in text, (expected, text)


def test_the_public_check_is_rate_limited_per_client(bank: Bank) -> None:
    for _ in range(20):
        assert _verify(bank, str(uuid.uuid4()), "a1-AAAA-BBBB-CCCC").status_code == 404
    assert_problem(_verify(bank, str(uuid.uuid4()), "a1-AAAA-BBBB-CCCC"), "rate_limited", 429)


def test_receipt_pages(bank: Bank) -> None:
    tid = _pay(bank)
    client = bank.client
    client.cookies.set("wy_device", credential_of("zhangwei"))
    page = client.get("/login")
    csrf = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    client.post(
        "/login",
        data={"login": "zhangwei", "password": DEFAULT_PASSWORD, "csrf_token": csrf},
        follow_redirects=False,
    )
    result = client.get(f"/transfer/{tid}").text
    code = result.split('data-testid="receipt-code">')[1].split("<")[0]
    assert f"/transfer/{tid}/receipt.pdf" in result and "电子回单" in result
    pdf = client.get(f"/transfer/{tid}/receipt.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")

    client.cookies.clear()
    checked = client.get(f"/receipts/verify?reference={tid}&code={code}")
    assert checked.status_code == 200 and 'data-testid="receipt-genuine"' in checked.text
    wrong = client.get(f"/receipts/verify?reference={tid}&code=a1-AAAA-AAAA-AAAA")
    assert wrong.status_code == 404 and "没有与该回单编号和验证码相符的回单" in wrong.text
    assert "电子回单真伪查验" in client.get("/receipts/verify").text
