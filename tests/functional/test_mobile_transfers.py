"""Transfer by mobile number (手机号转账, issue 6 §2) through the API and the pages: the
payee opts in with a code texted to the reserved mobile; the payer sees the masked name
and bank, confirms the surname or given name, and pays like any transfer. Look-ups are
counted per payer; a stranger's mobile, a wrong name and another customer's data say
nothing."""

from __future__ import annotations

import uuid

from factories import DEFAULT_PASSWORD
from factories.bank import credential_of
from functional.conftest import Bank, _phone_and_id, assert_problem
from wangyin.uow import run_read


def _mobile(bank: Bank, who: str) -> str:
    return run_read(bank.db, lambda s: _phone_and_id(s, who))[0]


def _register(bank: Bank, who: str, account_id: str) -> dict:  # type: ignore[type-arg]
    headers = bank.headers[who]
    sent = bank.client.post(
        "/api/v1/mobile-alias/code", json={"account_id": account_id}, headers=headers
    )
    assert sent.status_code == 204, sent.text
    code = bank.last_code(_mobile(bank, who))
    done = bank.client.post(
        "/api/v1/mobile-alias", json={"account_id": account_id, "code": code}, headers=headers
    )
    assert done.status_code == 201, done.text
    return done.json()  # type: ignore[no-any-return]


def _by_mobile(bank: Bank, mobile: str, name_check: str, amount: str = "88.00"):  # type: ignore[no-untyped-def]
    return bank.client.post(
        "/api/v1/transfers/by-mobile",
        json={
            "from_account_id": bank.a.account.public_id,
            "to_mobile": mobile,
            "name_check": name_check,
            "amount": amount,
        },
        headers={**bank.headers["zhangwei"], "Idempotency-Key": uuid.uuid4().hex},
    )


def test_pay_a_mobile_number_after_the_payee_opted_in(bank: Bank) -> None:
    lina = _mobile(bank, "lina")
    # Before opting in, the number names nobody.
    assert_problem(
        bank.client.post(
            "/api/v1/mobile-payees/lookup",
            json={"mobile": f"{lina}"},
            headers=bank.headers["zhangwei"],
        ),
        "alias_not_found",
        404,
    )
    alias = _register(bank, "lina", bank.b.account.public_id)
    assert alias["mobile"] == f"{lina[:3]}****{lina[-4:]}"
    assert bank.client.get("/api/v1/mobile-alias", headers=bank.headers["lina"]).json()["id"]

    shown = bank.client.post(
        "/api/v1/mobile-payees/lookup", json={"mobile": f"{lina}"}, headers=bank.headers["zhangwei"]
    )
    assert shown.status_code == 200
    assert shown.json()["masked_name"] == "李*" and shown.json()["bank_name"] == "网银城市商业银行"
    assert bank.b.account.account_number not in shown.text

    assert_problem(_by_mobile(bank, lina, "王"), "alias_name_mismatch", 422)
    prepared = _by_mobile(bank, lina, "李")  # the surname
    assert prepared.status_code == 201, prepared.text
    tid = prepared.json()["id"]
    done = bank.client.post(
        f"/api/v1/transfers/{tid}/confirm",
        json=bank.factors(tid, "zhangwei"),
        headers={**bank.headers["zhangwei"], "Idempotency-Key": uuid.uuid4().hex},
    )
    assert done.status_code == 200 and done.json()["status"] == "COMPLETED"
    balances = bank.balances()
    assert balances[bank.b.account.account_number] == "588.00"
    assert _by_mobile(bank, lina, "娜").status_code == 201  # the given name

    # Turned off: the number names nobody again.
    assert (
        bank.client.delete("/api/v1/mobile-alias", headers=bank.headers["lina"]).status_code == 204
    )
    assert_problem(_by_mobile(bank, lina, "李"), "alias_not_found", 404)


def test_only_own_active_cny_accounts_and_the_right_code(bank: Bank) -> None:
    headers = bank.headers["lina"]
    assert_problem(
        bank.client.post(
            "/api/v1/mobile-alias/code",
            json={"account_id": bank.a.account.public_id},
            headers=headers,
        ),
        "account_not_found",
        404,
    )
    bank.client.post(
        "/api/v1/mobile-alias/code",
        json={"account_id": bank.b.account.public_id},
        headers=headers,
    )
    assert_problem(
        bank.client.post(
            "/api/v1/mobile-alias",
            json={"account_id": bank.b.account.public_id, "code": "000000"},
            headers=headers,
        ),
        "otp_invalid",
        422,
    )
    assert bank.client.get("/api/v1/mobile-alias", headers=headers).json() is None
    assert_problem(
        bank.client.post(
            "/api/v1/mobile-payees/lookup",
            json={"mobile": "12345"},
            headers=bank.headers["zhangwei"],
        ),
        "invalid_mobile",
        422,
    )


def test_look_ups_are_counted_per_payer(bank: Bank) -> None:
    for i in range(10):
        response = bank.client.post(
            "/api/v1/mobile-payees/lookup",
            json={"mobile": f"1390000{i:04d}"},
            headers=bank.headers["zhangwei"],
        )
        assert response.status_code == 404
    assert_problem(
        bank.client.post(
            "/api/v1/mobile-payees/lookup",
            json={"mobile": "13900009999"},
            headers=bank.headers["zhangwei"],
        ),
        "rate_limited",
        429,
    )
    # Paying counts too: the limit holds whichever way the number is tried.
    assert_problem(_by_mobile(bank, "13900009998", "李"), "rate_limited", 429)
    # Another payer has their own budget.
    assert (
        bank.client.post(
            "/api/v1/mobile-payees/lookup",
            json={"mobile": "13900009999"},
            headers=bank.headers["lina"],
        ).status_code
        == 404
    )


def _web_login(bank: Bank, who: str) -> str:
    client = bank.client
    client.cookies.clear()
    client.cookies.set("wy_device", credential_of(who))
    page = client.get("/login")
    csrf = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    client.post(
        "/login",
        data={"login": who, "password": DEFAULT_PASSWORD, "csrf_token": csrf},
        follow_redirects=False,
    )
    return client.get("/mobile-alias").text.split('name="csrf_token" value="')[1].split('"')[0]


def test_mobile_alias_and_mobile_transfer_pages(bank: Bank) -> None:
    csrf = _web_login(bank, "lina")
    client = bank.client
    sent = client.post(
        "/mobile-alias",
        data={"csrf_token": csrf, "account_id": bank.b.account.public_id, "step": "code"},
    )
    assert sent.status_code == 200 and "验证码" in sent.text
    code = bank.last_code(_mobile(bank, "lina"))
    on = client.post(
        "/mobile-alias",
        data={
            "csrf_token": csrf,
            "account_id": bank.b.account.public_id,
            "step": "register",
            "code": code,
        },
        follow_redirects=False,
    )
    assert on.status_code == 303
    assert 'data-testid="alias"' in client.get("/mobile-alias").text
    assert "开通手机号收款" in client.get("/security/log").text

    csrf = _web_login(bank, "zhangwei")
    lina = _mobile(bank, "lina")
    step_two = client.get(f"/mobile-transfer?mobile={lina}")
    assert step_two.status_code == 200 and "李*" in step_two.text
    key = step_two.text.split('name="idempotency_key" value="')[1].split('"')[0]
    wrong = client.post(
        "/mobile-transfer",
        data={
            "csrf_token": csrf,
            "idempotency_key": key,
            "to_mobile": lina,
            "from_account_id": bank.a.account.public_id,
            "name_check": "王",
            "amount": "5.00",
        },
    )
    assert wrong.status_code == 422, wrong.text[-3000:]
    assert "姓名不符" in wrong.text and 'value="5.00"' in wrong.text
    posted = client.post(
        "/mobile-transfer",
        data={
            "csrf_token": csrf,
            "idempotency_key": uuid.uuid4().hex,
            "to_mobile": lina,
            "from_account_id": bank.a.account.public_id,
            "name_check": "李",
            "amount": "5.00",
        },
        follow_redirects=False,
    )
    assert posted.status_code == 303 and posted.headers["location"].endswith("/confirm")
    assert "5.00" in client.get(posted.headers["location"]).text
