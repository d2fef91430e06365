"""A customer's whole path: sign up, get the professional edition, pay, see it on both sides."""

from __future__ import annotations

import csv
import io

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from factories import card_of, make_account, make_customer
from functional.conftest import Bank, assert_problem
from wangyin import cli
from wangyin.notify import service as notify
from wangyin.uow import run_read, run_write

PASSWORD = "Zhuce-Mima-77"
PIN = "582936"


def test_register_upgrade_login_pay_and_both_histories(bank: Bank, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    client: TestClient = bank.client

    def customer(s: Session) -> dict[str, str]:
        c = make_customer(s, at=bank.clock.now(), name="陈静", mobile="13600002222")
        acct = make_account(s, c, at=bank.clock.now(), with_card=True, balance_minor=8_000_00)
        return {
            "name": c.name,
            "id_number": c.id_number,
            "mobile": c.mobile,
            "card_number": card_of(s, acct).number,
        }

    form = run_write(bank.db, customer)
    started = client.post(
        "/api/v1/auth/register",
        json={**form, "username": "chenjing", "password": PASSWORD, "transaction_password": PIN},
    )
    assert started.status_code == 202, started.text
    # The code texted to the reserved mobile creates the login (issue 11 #16).
    response = client.post(
        "/api/v1/auth/register/verify",
        json={
            "registration_id": started.json()["registration_id"],
            "code": bank.last_code(form["mobile"]),
        },
    )
    assert response.status_code == 201, response.text
    assert response.json()["edition"] == "public"

    # By reserved mobile number, from a phone not bound yet: code + ID number bind it.
    headers = bank.login("13600002222", PASSWORD)
    me = client.get("/api/v1/me", headers=headers).json()
    assert (me["username"], me["edition"]) == ("chenjing", "public")
    accounts = client.get("/api/v1/accounts", headers=headers).json()["accounts"]
    source = accounts[0]
    body = {
        "from_account_id": source["id"],
        "to_account_number": bank.b.account.account_number,
        "payee_name": "李娜",
        "amount": "88.80",
        "currency": "CNY",
        "remark": "还书钱",
    }
    refused = client.post(
        "/api/v1/transfers", json=body, headers={**headers, "Idempotency-Key": "journey-0001"}
    )
    assert_problem(refused, "public_edition", 403)

    # At the counter: `wangyin admin upgrade chenjing` against the same database.
    monkeypatch.setenv("WANGYIN_DATABASE_URL", str(bank.db.engine.url))
    result = CliRunner().invoke(cli.app, ["admin", "upgrade", "chenjing"])
    assert result.exit_code == 0, result.output
    assert client.get("/api/v1/me", headers=headers).json()["edition"] == "professional"

    prepared = client.post(
        "/api/v1/transfers", json=body, headers={**headers, "Idempotency-Key": "journey-0002"}
    )
    assert prepared.status_code == 201, prepared.text
    transfer = prepared.json()
    assert transfer["status"] == "CHALLENGE_PENDING"
    assert transfer["to_account_number"] == (
        f"{bank.b.account.account_number[:4]} **** **** {bank.b.account.account_number[-4:]}"
    )
    assert transfer["second_factor_required"] is True
    bank.clock.advance(seconds=20)
    sent = client.post(f"/api/v1/transfers/{transfer['id']}/code", headers=headers)
    assert sent.status_code == 204, sent.text
    sms = run_read(
        bank.db, lambda s: notify.body_of(notify.messages_to(s, phone=form["mobile"])[0])
    )
    # Dynamic linking: the message names the payee's account ending and the amount.
    assert bank.b.account.account_number[-4:] in sms and "88.80 CNY" in sms
    confirmed = client.post(
        f"/api/v1/transfers/{transfer['id']}/confirm",
        json={
            "key_digest": transfer["key_digest"],
            "transaction_password": PIN,
            "code": bank.last_code(form["mobile"]),
        },
        headers={**headers, "Idempotency-Key": "journey-0003"},
    )
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["status"] == "COMPLETED"

    mine = client.get(f"/api/v1/accounts/{source['id']}/transactions", headers=headers).json()
    out = mine["lines"][0]
    assert (out["direction"], out["amount"], out["memo"]) == ("out", "-88.80", "还书钱")
    assert out["counterparty_name"] == "李*"
    assert out["counterparty_account"] == (
        f"{bank.b.account.account_number[:4]} **** **** {bank.b.account.account_number[-4:]}"
    )
    assert out["balance_after"] == "7911.20"

    theirs = client.get(
        f"/api/v1/accounts/{bank.b.account.public_id}/transactions",
        headers=bank.headers["lina"],
    ).json()
    incoming = theirs["lines"][0]
    assert (incoming["direction"], incoming["amount"], incoming["memo"]) == (
        "in",
        "88.80",
        "还书钱",
    )
    assert incoming["counterparty_name"] == "陈*"
    assert incoming["counterparty_account"].endswith(source["account_number"][-4:])
    assert source["account_number"][4:-4] not in incoming["counterparty_account"]

    history = client.get(
        f"/api/v1/accounts/{source['id']}/transactions",
        params={"direction": "in"},
        headers=headers,
    ).json()
    assert [line["memo"] for line in history["lines"]] == ["开户存入"]


def test_csv_export_has_a_header_and_every_row(bank: Bank) -> None:
    client = bank.client
    headers = bank.headers["zhangwei"]
    for n, amount in enumerate(["1.00", "2.50", "=3"]):
        body = {
            "from_account_id": bank.a.account.public_id,
            "to_account_number": bank.b.account.account_number,
            "payee_name": "李娜",
            "amount": amount if amount != "=3" else "3",
            "currency": "CNY",
            "remark": "=HYPERLINK(1)" if amount == "=3" else f"第{n}笔",
        }
        tid = client.post(
            "/api/v1/transfers", json=body, headers={**headers, "Idempotency-Key": f"csv-prep-{n}"}
        ).json()["id"]
        done = client.post(
            f"/api/v1/transfers/{tid}/confirm",
            json=bank.factors(tid, "zhangwei"),
            headers={**headers, "Idempotency-Key": f"csv-conf-{n}"},
        )
        assert done.status_code == 200, done.text
    response = client.get(
        f"/api/v1/accounts/{bank.a.account.public_id}/transactions.csv", headers=headers
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["booked_at_utc", "direction", "amount"]
    body_rows = rows[1:]
    assert len(body_rows) == 4  # the opening deposit and three transfers
    assert [r[2] for r in body_rows] == ["-3.00", "-2.50", "-1.00", "10000.00"]
    assert body_rows[0][7] == "'=HYPERLINK(1)"  # formulas are neutralised
    assert all(r[3] == "CNY" for r in body_rows)
