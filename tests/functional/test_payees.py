"""The payee book through the JSON API and the pages: add, search, edit, remove, save
from a transfer, pay a saved payee and "transfer again" (再转一笔); ownership and CSRF."""

from __future__ import annotations

import re
import uuid

from factories import DEFAULT_PASSWORD
from factories.bank import credential_of
from functional.conftest import Bank, assert_problem


def _key() -> dict[str, str]:
    return {"Idempotency-Key": uuid.uuid4().hex}


def _pay(bank: Bank, amount: str) -> dict:  # type: ignore[type-arg]
    headers = bank.headers["zhangwei"]
    prepared = bank.client.post(
        "/api/v1/transfers",
        json={
            "from_account_id": bank.a.account.public_id,
            "to_account_number": bank.b.account.account_number,
            "payee_name": "李娜",
            "amount": amount,
            "currency": "CNY",
        },
        headers={**headers, **_key()},
    )
    if prepared.status_code != 201:
        return prepared.json()  # type: ignore[no-any-return]
    done = bank.client.post(
        f"/api/v1/transfers/{prepared.json()['id']}/confirm",
        json=bank.factors(prepared.json()["id"], "zhangwei"),
        headers={**headers, **_key()},
    )
    assert done.status_code == 200, done.text
    return done.json()  # type: ignore[no-any-return]


def test_payee_book_through_the_api(bank: Bank) -> None:
    client, headers = bank.client, bank.headers["zhangwei"]
    number = bank.b.account.account_number
    added = client.post(
        "/api/v1/payees",
        json={"name": "李娜", "account_number": number, "nickname": "同事", "limit": "50.00"},
        headers=headers,
    )
    assert added.status_code == 201, added.text
    payee = added.json()
    assert (payee["name"], payee["account_number"], payee["limit"]) == ("李娜", number, "50.00")
    assert payee["initials"] == "ln"

    assert [p["id"] for p in client.get("/api/v1/payees?q=ln", headers=headers).json()] == [
        payee["id"]
    ]
    assert client.get("/api/v1/payees?q=zz", headers=headers).json() == []
    assert_problem(
        client.post(
            "/api/v1/payees", json={"name": "李娜", "account_number": number}, headers=headers
        ),
        "payee_already_saved",
        409,
    )
    assert_problem(
        client.post(
            "/api/v1/payees", json={"name": "李娜", "account_number": "12x45678"}, headers=headers
        ),
        "validation_error",
        422,
    )
    assert_problem(
        client.post(
            "/api/v1/payees",
            json={"name": "李娜", "account_number": "123456789", "limit": "1e9"},
            headers=headers,
        ),
        "invalid_amount",
        422,
    )

    # The payee's own limit holds at prepare, with the customer's words.
    refused = _pay(bank, "50.01")
    assert refused["code"] == "over_payee_limit" and "50.00" in refused["detail"]
    assert _pay(bank, "50.00")["status"] == "COMPLETED"

    changed = client.patch(
        f"/api/v1/payees/{payee['id']}", json={"nickname": "", "limit": None}, headers=headers
    )
    assert changed.status_code == 200 and changed.json()["limit"] is None
    assert changed.json()["last_paid_at"] is not None
    assert _pay(bank, "60.00")["status"] == "COMPLETED"

    # Another customer sees nothing of it, and cannot change or remove it.
    other = bank.headers["lina"]
    assert client.get("/api/v1/payees", headers=other).json() == []
    assert_problem(
        client.get(f"/api/v1/payees/{payee['id']}", headers=other), "payee_entry_not_found", 404
    )
    assert_problem(
        client.delete(f"/api/v1/payees/{payee['id']}", headers=other), "payee_entry_not_found", 404
    )
    assert client.delete(f"/api/v1/payees/{payee['id']}", headers=headers).status_code == 204
    assert client.get("/api/v1/payees", headers=headers).json() == []

    # Saved again from a completed transfer (one click, the consent).
    recent = client.get("/api/v1/payees/recent", headers=headers).json()
    assert recent[0]["name"] == "李娜" and recent[0]["saved"] is False
    saved = client.post(
        "/api/v1/payees/from-transfer",
        json={"transfer_id": recent[0]["transfer_id"]},
        headers=headers,
    )
    assert saved.status_code == 201 and saved.json()["source"] == "transfer"
    assert client.get("/api/v1/payees/recent", headers=headers).json()[0]["saved"] is True
    assert_problem(
        client.post(
            "/api/v1/payees/from-transfer",
            json={"transfer_id": recent[0]["transfer_id"]},
            headers=other,
        ),
        "transfer_not_found",
        404,
    )


def test_the_payee_book_needs_a_login(bank: Bank) -> None:
    bank.client.cookies.clear()
    assert_problem(bank.client.get("/api/v1/payees"), "not_authenticated", 401)
    assert bank.client.get("/payees", follow_redirects=False).status_code in (302, 303)


def _web_login(bank: Bank) -> str:
    client = bank.client
    client.cookies.set("wy_device", credential_of("zhangwei"))
    page = client.get("/login")
    csrf = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    client.post(
        "/login",
        data={"login": "zhangwei", "password": DEFAULT_PASSWORD, "csrf_token": csrf},
        follow_redirects=False,
    )
    return client.get("/payees").text.split('name="csrf_token" value="')[1].split('"')[0]


def test_payee_book_pages(bank: Bank) -> None:
    number = bank.b.account.account_number
    done = _pay(bank, "12.00")
    client = bank.client
    csrf = _web_login(bank)

    page = client.get("/payees")
    assert page.status_code == 200 and "收款人名册" in page.text
    assert "最近收款人" in page.text and f"/transfer?again={done['id']}" in page.text
    # "Transfer again" fills the payee and the paying account, never the amount.
    again = client.get(f"/transfer?again={done['id']}").text
    assert f'value="{number}"' in again and 'value="李娜"' in again
    assert re.search(r'id="amount"[^>]*value=""', again)

    # Without the CSRF token nothing is saved.
    refused = client.post("/payees", data={"name": "李娜", "account_number": number})
    assert refused.status_code == 403
    added = client.post(
        "/payees",
        data={"csrf_token": csrf, "name": "李娜", "account_number": number, "limit": "abc"},
    )
    assert added.status_code == 422 and 'value="李娜"' in added.text  # kept, with the reason
    added = client.post(
        "/payees",
        data={
            "csrf_token": csrf,
            "name": "李娜",
            "account_number": number,
            "nickname": "同事",
            "limit": "2000",
        },
        follow_redirects=False,
    )
    assert added.status_code == 303
    listed = client.get("/payees?done=added").text
    assert "收款人已保存" in listed and "同事" in listed and "2,000.00" in listed
    payee_id = re.search(r'/transfer\?payee=([^"]+)"', listed).group(1)  # type: ignore[union-attr]
    assert 'value="李娜"' in client.get(f"/transfer?payee={payee_id}").text
    assert "同事" in client.get("/payees?q=ln").text
    # The operation log says it in the customer's words.
    log = client.get("/security/log").text
    assert "添加收款人" in log and f"尾号 {number[-4:]} 的账户" in log
    assert "同事" not in client.get("/payees?q=wf").text

    edited = client.post(
        f"/payees/{payee_id}",
        data={"csrf_token": csrf, "nickname": "小李", "limit": ""},
        follow_redirects=False,
    )
    assert edited.status_code == 303 and "小李" in client.get("/payees").text
    removed = client.post(
        f"/payees/{payee_id}/delete", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert removed.status_code == 303 and "小李" not in client.get("/payees").text

    # Saved from the transfer's result page.
    result = client.get(f"/transfer/{done['id']}").text
    assert 'data-testid="save-payee"' in result and f"/transfer?again={done['id']}" in result
    saved = client.post(
        "/payees/from-transfer",
        data={"csrf_token": csrf, "transfer_id": done["id"]},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    assert "李娜" in client.get("/payees").text
