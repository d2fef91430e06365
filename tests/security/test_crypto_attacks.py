"""Attack-style tests of the bank's own cryptography (issue 11 #8, #9, #14, #15 and the
rules whose tests would not notice them breaking): what someone with the database, a
stranger's channel or a plain value sends, and what the bank must answer.

Each test states the attack, then the refusal. Future work keeps this file green.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from dataclasses import replace
from typing import Any

import pytest
from argon2 import PasswordHasher
from argon2.exceptions import VerificationError
from sqlalchemy import text

from factories import DEFAULT_PASSWORD
from factories.bank import DEFAULT_PIN
from security.conftest import Bank, assert_problem
from wangyin.client import WangyinClient
from wangyin.errors import DomainError
from wangyin.identity import passwords
from wangyin.notify import service as notify
from wangyin.security import channel, fields
from wangyin.security.crypto import sm3
from wangyin.security.keys import load_keyring, new_keyring, use_keyring
from wangyin.uow import run_read, run_write
from wangyin.verify import verify_all


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


# --- the PIN's hash has a secret outside the database (issue 11 #15) ----------------------------


def _stored_pin_hash(bank: Bank, who: str = "zhangwei") -> str:
    return str(
        run_read(
            bank.db,
            lambda s: s.execute(
                text("SELECT transaction_pin_hash FROM users WHERE username = :u"), {"u": who}
            ).scalar_one(),
        )
    )


def test_a_pin_hash_copied_from_the_database_cannot_be_checked_offline(bank: Bank) -> None:
    """With the database alone, a six-digit PIN is found by trying the million values
    against its Argon2 hash. The hash is of an HMAC of the PIN under the keyring's pepper:
    even the right PIN does not verify against it without the keyring."""
    stored = _stored_pin_hash(bank)
    assert stored.startswith("$argon2id$")
    # The attacker's Argon2 reads the hash once the pepper's key id is taken out of it.
    parts = stored.split("$")
    parts[3] = ",".join(p for p in parts[3].split(",") if not p.startswith("keyid="))
    with pytest.raises(VerificationError):  # the right PIN stands for the whole search
        PasswordHasher().verify("$".join(parts), DEFAULT_PIN)
    assert passwords.verify_password(stored, DEFAULT_PIN)
    ring = load_keyring()
    use_keyring(replace(ring, pepper=new_keyring().pepper))  # another bank's pepper
    try:
        assert not passwords.verify_password(stored, DEFAULT_PIN)
    finally:
        use_keyring(ring)


def test_hashes_of_before_the_pepper_verify_and_are_rehashed_on_success() -> None:
    legacy = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1).hash("582936")
    assert passwords.verify_password(legacy, "582936")
    assert not passwords.verify_password(legacy, "582937")
    assert passwords.needs_rehash(legacy)
    fresh = passwords.rehash_if_needed(legacy, "582936")
    assert fresh is not None and passwords.pepper_of(fresh) == load_keyring().pepper.active
    assert fresh.startswith("$argon2id$") and passwords.pepper_of(legacy) is None
    assert passwords.verify_password(fresh, "582936") and not passwords.needs_rehash(fresh)
    assert passwords.rehash_if_needed(fresh, "582936") is None
    # After a rotation (a new pepper version), the old version still verifies and is
    # re-hashed with the new one.
    ring = load_keyring()
    use_keyring(ring.rotated())
    try:
        assert passwords.verify_password(fresh, "582936")
        assert passwords.needs_rehash(fresh)
        again = str(passwords.rehash_if_needed(fresh, "582936"))
        assert (
            passwords.pepper_of(again) == load_keyring().pepper.active != passwords.pepper_of(fresh)
        )
    finally:
        use_keyring(ring)
    # A pepper version the keyring does not hold verifies nothing.
    unknown = fresh.replace(",keyid=", ",keyid=eA", 1)  # another key id
    assert passwords.pepper_of(unknown) not in load_keyring().pepper.keys
    assert not passwords.verify_password(unknown, "582936")


def test_a_login_with_a_password_hashed_before_the_pepper_rehashes_it(bank: Bank) -> None:
    legacy = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1).hash(
        DEFAULT_PASSWORD
    )
    run_write(
        bank.db,
        lambda s: s.execute(
            text("UPDATE users SET password_hash = :h WHERE username = 'lina'"), {"h": legacy}
        ),
    )
    bank.login("lina")
    stored = run_read(
        bank.db,
        lambda s: s.execute(
            text("SELECT password_hash FROM users WHERE username = 'lina'")
        ).scalar_one(),
    )
    assert passwords.pepper_of(stored) == load_keyring().pepper.active


# --- channels belong to the login session (issue 11 #14, 4.1.2.2-b) -----------------------------


def _session_of(row_kid: str, bank: Bank) -> str | None:
    return run_read(
        bank.db,
        lambda s: s.execute(
            text("SELECT session_hash FROM channels WHERE kid = :k"), {"k": row_kid}
        ).scalar_one(),
    )


def _reveal(bank: Bank, values: dict[str, Any], token: str | None) -> dict[str, str | None]:
    state = bank.client.app.state.wangyin  # type: ignore[attr-defined]
    sealed = {k: channel.Envelope.model_validate(v) for k, v in values.items()}
    return channel.reveal_many(state, sealed, session_token=token)


def test_a_channel_opened_after_login_belongs_to_that_session(bank: Bank) -> None:
    """The handshake of a logged-in caller (bearer token, or the web session cookie) binds
    the channel to that session; an anonymous one, or one with a token that is no (longer
    a) session, opens an anonymous channel."""
    zhangwei = api_for(bank, "zhangwei")
    bound = zhangwei.handshake()
    token = zhangwei.token or ""
    assert _session_of(bound.kid, bank) == hashlib.sha256(token.encode()).hexdigest()
    anonymous = WangyinClient(http=bank.client).handshake()  # type: ignore[arg-type]
    assert _session_of(anonymous.kid, bank) is None
    stale = WangyinClient(http=bank.client)  # type: ignore[arg-type]
    stale.token = "not-a-session-token"
    assert _session_of(stale.handshake().kid, bank) is None


def test_a_strangers_anonymous_channel_is_refused_in_a_customers_session(bank: Bank) -> None:
    """Issue 11 #14: envelopes sealed under a stranger's anonymous channel confirmed a
    transfer in another customer's session. Opening them for a session now requires the
    channel to be that session's own."""
    stranger = WangyinClient(http=bank.client)  # type: ignore[arg-type]
    envelopes = {
        "transaction_password": stranger.seal("transaction_password", DEFAULT_PIN),
        "code": stranger.seal("code", "123456"),
    }
    token = bank.headers["zhangwei"]["Authorization"].split()[1]
    with pytest.raises(DomainError) as refused:
        _reveal(bank, envelopes, token)
    assert refused.value.code == "channel_invalid"
    # Nor another customer's channel.
    lina = api_for(bank, "lina")
    with pytest.raises(DomainError) as refused:
        _reveal(bank, {"code": lina.seal("code", "123456")}, token)
    assert refused.value.code == "channel_invalid"
    # The session's own channel opens.
    zhangwei = api_for(bank, "zhangwei")
    assert _reveal(bank, {"code": zhangwei.seal("code", "123456")}, token) == {"code": "123456"}


def test_a_new_login_needs_a_new_channel(bank: Bank) -> None:
    zhangwei = api_for(bank, "zhangwei")
    old_token = zhangwei.token or ""
    assert _reveal(bank, {"code": zhangwei.seal("code", "1")}, old_token) == {"code": "1"}
    new_token = bank.login("zhangwei")["Authorization"].split()[1]
    with pytest.raises(DomainError) as refused:
        _reveal(bank, {"code": zhangwei.seal("code", "2")}, new_token)
    assert refused.value.code == "channel_invalid"
    zhangwei.token = new_token
    zhangwei.handshake()
    assert _reveal(bank, {"code": zhangwei.seal("code", "3")}, new_token) == {"code": "3"}


def test_the_client_opens_a_session_channel_after_login(required: Bank) -> None:
    api = WangyinClient(http=required.client, device_id="device-lina")  # type: ignore[arg-type]
    # A device id alone is a new device (issue 11 #7): the code and the ID number bind it.
    mobile, id_number = required.b.customer.mobile, required.b.customer.id_number
    api.login(
        "lina",
        DEFAULT_PASSWORD,
        code_callback=lambda _challenge: required.last_code(mobile),
        id_number=id_number,
    )
    login_channel = api.channel
    envelope = api.seal("code", "654321")
    assert api.channel is not None and api.channel is not login_channel
    assert _session_of(api.channel.kid, required) == (
        hashlib.sha256((api.token or "").encode()).hexdigest()
    )
    assert _reveal(required, {"code": envelope}, api.token) == {"code": "654321"}


# --- an encrypted mobile moved to another customer's row (issue 11 #9) ---------------------------


def test_codes_never_go_to_a_mobile_copied_from_another_customers_row(bank: Bank) -> None:
    """Someone with the database copies 张伟's encrypted mobile into 李娜's row, hoping 李娜's
    login codes go to that phone. The value no longer decrypts for her row: the code is
    not sent anywhere (the request fails closed) and nothing is queued for 张伟's phone."""
    phone = bank.a.customer.mobile

    def queued() -> int:
        return len(run_read(bank.db, lambda s: notify.messages_to(s, phone=phone, limit=100)))

    before = queued()
    run_write(
        bank.db,
        lambda s: s.execute(
            text(
                "UPDATE customers SET mobile = (SELECT mobile FROM customers WHERE id = :a) "
                "WHERE id = :b"
            ),
            {"a": bank.a.customer.id, "b": bank.b.customer.id},
        ),
    )
    new_device = {"X-Device-Id": "attackers-phone"}
    login = bank.client.post(
        "/api/v1/auth/login",
        json={"login": "lina", "password": DEFAULT_PASSWORD},
        headers=new_device,
    )
    if login.status_code == 200 and login.json()["status"] == "challenge_required":
        sent = bank.client.post(
            "/api/v1/auth/login/code",
            json={"challenge_id": login.json()["challenge_id"]},
            headers=new_device,
        )
        assert sent.status_code >= 500, sent.text
    else:
        assert login.status_code >= 500, login.text
    assert queued() == before
    assert any("customers.mobile" in p for p in verify_all(bank.db).problems)
