"""Inter-bank transfers through the JSON API and the pages: the bank directory and the
card's BIN, prepare -> code -> confirm with an Idempotency-Key (a replay answers the
first result), refusals with their codes in both languages, revocation, the worker's
sending, and the pages from form to result."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select

from factories import DEFAULT_PASSWORD
from factories.bank import credential_of
from functional.conftest import Bank, assert_problem
from wangyin.clearing import directory
from wangyin.clearing.models import SimulatedItem
from wangyin.clearing.settings import ClearingSettings
from wangyin.clearing.tasks import ClearingJob
from wangyin.uow import run_read, run_write

CMB = "308584000013"


def _key() -> dict[str, str]:
    return {"Idempotency-Key": uuid.uuid4().hex}


def _body(bank: Bank, **over: str) -> dict[str, str]:
    return {
        "from_account_id": bank.a.account.public_id,
        "bank_code": CMB,
        "payee_account": "6225880000000018",
        "payee_name": "赵敏",
        "amount": "120.50",
        "speed": "realtime",
        **over,
    }


def _confirm(bank: Bank, tid: str, key: dict[str, str] | None = None) -> object:
    sent = bank.client.post(
        f"/api/v1/interbank-transfers/{tid}/code", headers=bank.headers["zhangwei"]
    )
    assert sent.status_code == 204, sent.text
    code = bank.last_code(bank.a.customer.mobile)
    return bank.client.post(
        f"/api/v1/interbank-transfers/{tid}/confirm",
        json={"transaction_password": "258147", "code": code},
        headers={**bank.headers["zhangwei"], **(key or _key())},
    )


def test_directory_and_bin_through_the_api(bank: Bank) -> None:
    run_write(bank.db, directory.seed_directory)
    headers = bank.headers["zhangwei"]
    found = bank.client.get("/api/v1/banks?q=zsyh", headers=headers)
    assert found.status_code == 200
    assert found.json()[0]["code"] == CMB
    by_card = bank.client.post(
        "/api/v1/banks/by-card", json={"card_number": "6222020000000027"}, headers=headers
    )
    assert by_card.json()["bank_name"] == "中国工商银行"
    assert_problem(
        bank.client.post(
            "/api/v1/banks/by-card", json={"card_number": "9999990000000027"}, headers=headers
        ),
        "bank_code_required",
        422,
    )
    assert bank.client.get("/api/v1/banks?q=zsyh").status_code == 401


def test_transfer_through_the_api_exactly_once(bank: Bank) -> None:
    run_write(bank.db, directory.seed_directory)
    headers = bank.headers["zhangwei"]
    before = bank.balances()[bank.a.account.account_number]
    prepared = bank.client.post(
        "/api/v1/interbank-transfers", json=_body(bank, bank_code=""), headers={**headers, **_key()}
    )
    assert prepared.status_code == 201, prepared.text
    t = prepared.json()
    # The bank came from the card's BIN (622588: CMB); a small real-time item goes by IBPS.
    assert (t["bank_code"], t["system"], t["status"]) == (CMB, "IBPS", "CHALLENGE_PENDING")
    assert t["payee_account"].endswith("0018") and "*" in t["payee_account"]
    key = _key()
    done = _confirm(bank, t["id"], key)
    assert done.status_code == 200, done.text  # type: ignore[attr-defined]
    assert done.json()["status"] == "WAITING"  # type: ignore[attr-defined]
    again = bank.client.post(
        f"/api/v1/interbank-transfers/{t['id']}/confirm",
        json={"transaction_password": "258147", "code": "000000"},
        headers={**headers, **key},
    )
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["status"] == "WAITING"
    after = bank.balances()[bank.a.account.account_number]
    assert float(before.replace(",", "")) - float(after.replace(",", "")) == 120.5
    job = ClearingJob(bank.db, bank.clock, settings=ClearingSettings(statement_dir="/nonexistent"))
    job.send_due(bank.clock.now())
    job.follow(bank.clock.now())
    got = bank.client.get(f"/api/v1/interbank-transfers/{t['id']}", headers=headers).json()
    assert got["status"] == "SETTLED"
    assert (
        run_read(bank.db, lambda s: s.scalar(select(func.count()).select_from(SimulatedItem))) == 1
    )
    listed = bank.client.get("/api/v1/interbank-transfers", headers=headers).json()
    assert [x["id"] for x in listed] == [t["id"]]
    # Another customer's transfer looks like none.
    assert_problem(
        bank.client.get(f"/api/v1/interbank-transfers/{t['id']}", headers=bank.headers["lina"]),
        "transfer_not_found",
        404,
    )


def test_refusals_have_codes_in_both_languages(bank: Bank) -> None:
    run_write(bank.db, directory.seed_directory)
    headers = bank.headers["zhangwei"]

    def prepare(lang: str = "zh", **over: str):  # type: ignore[no-untyped-def]
        return bank.client.post(
            f"/api/v1/interbank-transfers?lang={lang}",
            json=_body(bank, **over),
            headers={**headers, **_key(), "Accept-Language": lang},
        )

    zh = assert_problem(prepare(bank_code="308584000014"), "invalid_bank_code", 422)
    assert "联行号" in zh["detail"]
    en = assert_problem(prepare("en", bank_code="308584000014"), "invalid_bank_code", 422)
    assert "12 digits" in en["detail"]
    unknown = directory.make_code("308", "5840", "0999")
    assert_problem(prepare(bank_code=unknown), "unknown_bank_code", 422)
    assert_problem(prepare(bank_code="", payee_account="9999990000000027"), "bank_code_required")
    assert_problem(prepare(payee_account=bank.b.card_number), "same_bank_payee", 422)
    assert_problem(prepare(payee_account="12ab"), "invalid_payee_account", 422)
    assert_problem(prepare(amount="20000.00"), "insufficient_funds", 422)
    assert_problem(prepare(amount="1.234"), "amount_too_precise", 422)
    assert_problem(
        bank.client.post("/api/v1/interbank-transfers", json=_body(bank), headers=headers),
        "idempotency_key_required",
        428,
    )
    public = bank.client.post(
        "/api/v1/interbank-transfers",
        json=_body(bank, from_account_id=bank.c.account.public_id),
        headers={**bank.headers["wangfang"], **_key()},
    )
    assert_problem(public, "public_edition", 403)


def test_revoke_a_delayed_transfer_through_the_api(bank: Bank) -> None:
    run_write(bank.db, directory.seed_directory)
    headers = bank.headers["zhangwei"]
    before = bank.balances()[bank.a.account.account_number]
    t = bank.client.post(
        "/api/v1/interbank-transfers",
        json=_body(bank, speed="normal"),
        headers={**headers, **_key()},
    ).json()
    assert t["system"] == "BEPS"
    done = _confirm(bank, t["id"]).json()  # type: ignore[attr-defined]
    assert done["revocable"] is True
    revoked = bank.client.post(
        f"/api/v1/interbank-transfers/{t['id']}/revoke", headers={**headers, **_key()}
    )
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["status"] == "REVOKED"
    assert bank.balances()[bank.a.account.account_number] == before
    assert_problem(
        bank.client.post(
            f"/api/v1/interbank-transfers/{t['id']}/revoke",
            headers={**bank.headers["lina"], **_key()},
        ),
        "transfer_not_found",
        404,
    )


def test_pages_from_form_to_result(bank: Bank) -> None:
    run_write(bank.db, directory.seed_directory)
    client = bank.client
    client.cookies.set("wy_device", credential_of("zhangwei"))
    page = client.get("/login")
    csrf = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    client.post(
        "/login",
        data={"login": "zhangwei", "password": DEFAULT_PASSWORD, "csrf_token": csrf},
        follow_redirects=False,
    )
    form = client.get("/interbank")
    assert form.status_code == 200 and "跨行转账" in form.text and "次日到账" in form.text
    csrf = form.text.split('name="csrf_token" value="')[1].split('"')[0]
    assert "Transfer to another bank" in client.get("/interbank?lang=en").text
    client.get("/interbank?lang=zh")  # back to Chinese (the choice is remembered)
    assert (
        CMB in client.get("/interbank/banks?q=zsyh nanshan").text
        or CMB in client.get("/interbank/banks?q=zsyh").text
    )
    assert "/interbank?bank=" in client.get("/interbank/banks?q=桂林").text
    data = {
        "csrf_token": csrf,
        "idempotency_key": uuid.uuid4().hex,
        "from_account_id": bank.a.account.public_id,
        "bank_code": "",
        "payee_account": "6225880000000018",
        "payee_name": "赵敏",
        "amount": "88.00",
        "speed": "normal",
    }
    wrong = client.post("/interbank", data={**data, "payee_account": "9999990000000018"})
    assert wrong.status_code == 422 and "请选择收款银行" in wrong.text
    assert 'value="赵敏"' in wrong.text  # what was typed is kept
    data["idempotency_key"] = uuid.uuid4().hex  # a corrected form is a new request
    sent = client.post("/interbank", data=data, follow_redirects=False)
    assert sent.status_code == 303, sent.text
    confirm_url = sent.headers["location"]
    confirm = client.get(confirm_url)
    assert "招商银行" in confirm.text and "普通到账" in confirm.text and "88.00" in confirm.text
    tid = confirm_url.split("/")[2]
    client.post(f"/interbank/{tid}/code", data={"csrf_token": csrf, "channel": "sms"})
    code = bank.last_code(bank.a.customer.mobile)
    done = client.post(
        f"/interbank/{tid}/confirm",
        data={
            "csrf_token": csrf,
            "idempotency_key": uuid.uuid4().hex,
            "transaction_password": "258147",
            "code": code,
        },
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
    result = client.get(f"/interbank/{tid}").text
    assert 'data-status="WAITING"' in result and "撤销这笔转账" in result
    revoked = client.post(
        f"/interbank/{tid}/revoke",
        data={"csrf_token": csrf, "idempotency_key": uuid.uuid4().hex},
        follow_redirects=False,
    )
    assert revoked.status_code == 303
    result = client.get(f"/interbank/{tid}").text
    assert 'data-status="REVOKED"' in result and "已撤销" in result
    assert "撤销这笔转账" not in result
