"""Attack-style tests of the bank's own cryptography (issue 11 #8, #9, #14, #15 and the
rules whose tests would not notice them breaking): what someone with the database, a
stranger's channel or a plain value sends, and what the bank must answer.

Each test states the attack, then the refusal. Future work keeps this file green.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from typing import Any

import pytest
from sqlalchemy import text

from factories.bank import DEFAULT_PIN
from security.conftest import Bank, assert_problem
from wangyin.client import WangyinClient
from wangyin.security import fields
from wangyin.security.crypto import sm3
from wangyin.security.keys import load_keyring, new_keyring, use_keyring
from wangyin.uow import run_read


@pytest.fixture
def required(bank: Bank) -> Bank:
    """The bank refusing plain sensitive values (the production default)."""
    bank.settings.channel_encryption = "required"
    return bank


def api_for(bank: Bank, who: str, suite: str = "P256-AESGCM") -> WangyinClient:
    """A channel-speaking client already holding `who`'s session."""
    api = WangyinClient(http=bank.client, suite=suite, device_id=f"device-{who}")  # type: ignore[arg-type]
    api.token = bank.headers[who]["Authorization"].split()[1]
    return api


def prepare_to_lina(api: WangyinClient, bank: Bank, amount: str = "100.00") -> dict[str, Any]:
    return api.prepare_transfer(
        from_account_id=bank.a.account.public_id,
        to_account_number=bank.b.account.account_number,
        payee_name="李娜",
        amount=amount,
        currency="CNY",
    )


# --- a plain transaction password in required mode ------------------------------------------


def test_plain_transaction_password_is_refused_even_beside_a_sealed_code(required: Bank) -> None:
    """channel_encryption="required": a transfer confirmed with the PIN in clear (and the
    code properly sealed) is refused 400 channel_required, and no money moves."""
    api = api_for(required, "zhangwei")
    t = prepare_to_lina(api, required)
    api.send_transfer_code(t["id"])
    factors = required.factors(t["id"], "zhangwei")
    before = required.balances()
    response = api.raw(
        "POST",
        f"/transfers/{t['id']}/confirm",
        json_body={
            "key_digest": t["key_digest"],
            "transaction_password": DEFAULT_PIN,
            "code": api.seal("code", factors["code"]),
        },
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )
    assert_problem(response, "channel_required", 400)
    assert required.balances() == before
    # The soft-keyboard form in clear is a plain transaction password too.
    board = api.call("POST", "/keyboard")
    positions = [board["digits"].index(int(d)) for d in DEFAULT_PIN]
    response = api.raw(
        "POST",
        f"/transfers/{t['id']}/confirm",
        json_body={
            "key_digest": t["key_digest"],
            "transaction_password": f'{{"keyboard": "{board["id"]}", "positions": {positions}}}',
            "code": api.seal("code", factors["code"]),
        },
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )
    assert_problem(response, "channel_required", 400)
    assert required.balances() == before


def test_plain_transaction_password_change_is_refused(required: Bank) -> None:
    api = api_for(required, "lina")
    for old, new in (
        (DEFAULT_PIN, api.seal("new_transaction_password", "640285")),
        (api.seal("old_transaction_password", DEFAULT_PIN), "640285"),
    ):
        response = api.raw(
            "POST",
            "/security/transaction-password",
            json_body={"old_transaction_password": old, "new_transaction_password": new},
        )
        assert_problem(response, "channel_required", 400)


# --- keyed look-up hashes ---------------------------------------------------------------------


def test_lookup_hashes_of_id_mobile_and_card_are_keyed(bank: Bank) -> None:
    """The hash columns that find a customer by ID number, mobile or card are HMACs under
    the keyring's look-up key: not a plain SHA-256 or SM3 anyone can compute from a guessed
    number, and different under another key."""
    row = run_read(
        bank.db,
        lambda s: s.execute(
            text(
                "SELECT c.id_number_hash, c.mobile_hash, k.number_hash FROM customers c "
                "JOIN cards k ON k.customer_id = c.id WHERE c.id = :id"
            ),
            {"id": bank.a.customer.id},
        ).one(),
    )
    clear = (bank.a.customer.id_number, bank.a.customer.mobile, bank.a.card_number)
    ring = load_keyring()
    for value, stored in zip(clear, row, strict=True):
        assert stored == fields.lookup_hash(value)
        assert stored != hashlib.sha256(value.encode()).hexdigest()
        assert stored != sm3(value.encode()).hex()
        assert stored == hmac.new(ring.lookup_key, value.encode(), hashlib.sha256).hexdigest()
    use_keyring(new_keyring())
    try:
        for value, stored in zip(clear, row, strict=True):
            assert fields.lookup_hash(value) != stored
    finally:
        use_keyring(ring)
