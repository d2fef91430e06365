"""Issue 9 §1: 返回修改 fills the transfer form again for its owner, and for nobody else."""

from __future__ import annotations

from functional.conftest import Bank
from security.conftest import web_login


def _prepared(bank: Bank) -> str:
    response = bank.client.post(
        "/api/v1/transfers",
        json={
            "from_account_id": bank.a.account.public_id,
            "to_account_number": bank.b.account.account_number,
            "payee_name": "李娜",
            "amount": "12.30",
            "currency": "CNY",
            "remark": "房租",
        },
        headers={**bank.headers["zhangwei"], "Idempotency-Key": "edit-back-1"},
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def test_back_to_edit_keeps_what_was_typed(bank: Bank) -> None:
    tid = _prepared(bank)
    web_login(bank, "zhangwei")
    form = bank.client.get(f"/transfer/{tid}/edit").text
    assert f'value="{bank.b.account.account_number}"' in form
    for typed in ('value="李娜"', 'value="12.30"', 'value="房租"'):
        assert typed in form
    assert f'value="{bank.a.account.public_id}" selected' in form


def test_back_to_edit_of_another_customers_transfer_is_not_found(bank: Bank) -> None:
    tid = _prepared(bank)
    web_login(bank, "lina")
    response = bank.client.get(f"/transfer/{tid}/edit")
    assert response.status_code == 404
    assert "房租" not in response.text and "12.30" not in response.text
