"""Application-layer encryption of sensitive fields (4.1.2.2-b) and the soft keyboard
(4.3.1.5), through the API in "required" mode with the Python client."""

from __future__ import annotations

import base64
import json
import re

import pytest

from factories import DEFAULT_PASSWORD
from factories.bank import DEFAULT_PIN
from functional.conftest import Bank, _phone_and_id, assert_problem
from wangyin.client import ApiError, WangyinClient
from wangyin.security import channel
from wangyin.security.crypto import p256_keypair, p256_shared_secret, sm2_ecdh, sm2_keypair
from wangyin.security.ratelimit import rule_for
from wangyin.uow import run_read

SUITES = ["P256-AESGCM", "SM2-SM4GCM"]


@pytest.fixture
def required(bank: Bank) -> Bank:
    """The same bank, now refusing plain sensitive values (the production default)."""
    bank.settings.channel_encryption = "required"
    return bank


def client_for(bank: Bank, suite: str = "P256-AESGCM", device: str = "dev-new") -> WangyinClient:
    return WangyinClient(http=bank.client, suite=suite, device_id=device)  # type: ignore[arg-type]


def code_for(bank: Bank, who: str):  # type: ignore[no-untyped-def]
    mobile, _ = run_read(bank.db, lambda s: _phone_and_id(s, who))
    return lambda _challenge: bank.last_code(mobile)


def id_of(bank: Bank, who: str) -> str:
    return run_read(bank.db, lambda s: _phone_and_id(s, who))[1]


def test_required_mode_refuses_a_plain_password(required: Bank) -> None:
    response = required.client.post(
        "/api/v1/auth/login", json={"login": "zhangwei", "password": DEFAULT_PASSWORD}
    )
    assert_problem(response, "channel_required", 400)


def test_required_mode_refuses_plain_factors_on_confirm(required: Bank) -> None:
    api = client_for(required)
    api.token = required.headers["zhangwei"]["Authorization"].split()[1]
    t = api.prepare_transfer(
        from_account_id=required.a.account.public_id,
        to_account_number=required.b.account.account_number,
        payee_name="李娜",
        amount="100.00",
        currency="CNY",
    )
    response = api.raw(
        "POST",
        f"/transfers/{t['id']}/confirm",
        json_body={"key_digest": t["key_digest"], "transaction_password": DEFAULT_PIN, "code": "1"},
        headers={"Idempotency-Key": "plain-factors-1"},
    )
    assert_problem(response, "channel_required", 400)


@pytest.mark.parametrize("suite", SUITES)
def test_login_with_challenge_and_transfer_over_each_suite(required: Bank, suite: str) -> None:
    api = client_for(required, suite)
    body = api.login(
        "zhangwei",
        DEFAULT_PASSWORD,
        code_callback=code_for(required, "zhangwei"),
        id_number=id_of(required, "zhangwei"),
    )
    assert body["status"] == "authenticated"
    assert api.channel is None  # the login's channel is not the session's
    t = api.prepare_transfer(
        from_account_id=required.a.account.public_id,
        to_account_number=required.b.account.account_number,
        payee_name="李娜",
        amount="100.00",
        currency="CNY",
    )
    api.send_transfer_code(t["id"])
    done = api.confirm_transfer(
        t["id"],
        key_digest=t["key_digest"],
        transaction_password=DEFAULT_PIN,
        code=code_for(required, "zhangwei")(t["id"]),
    )
    assert done["status"] == "COMPLETED"
    assert api.channel is not None and api.channel.suite == suite  # opened for the session


def test_a_replayed_envelope_fails(required: Bank) -> None:
    api = client_for(required, device="dev-replay")
    envelope = api.seal("password", DEFAULT_PASSWORD)
    login = {"login": "lina", "password": envelope}
    first = required.client.post("/api/v1/auth/login", json=login)
    assert first.status_code == 200, first.text
    again = required.client.post("/api/v1/auth/login", json=login)
    assert_problem(again, "channel_replay", 409)
    # A lower counter than one already accepted is a replay too.
    api.channel.counter = 0  # type: ignore[union-attr]
    stale = {"login": "lina", "password": api.seal("password", DEFAULT_PASSWORD)}
    assert_problem(required.client.post("/api/v1/auth/login", json=stale), "channel_replay", 409)


def test_an_envelope_from_another_channel_or_field_fails(required: Bank) -> None:
    mine, other = client_for(required), client_for(required)
    other.handshake()
    envelope = mine.seal("password", DEFAULT_PASSWORD)
    moved = {**envelope, "kid": other.channel.kid}  # type: ignore[union-attr]
    response = required.client.post("/api/v1/auth/login", json={"login": "lina", "password": moved})
    assert_problem(response, "channel_invalid", 400)
    # Sealed for another field: the associated data differs.
    as_code = mine.seal("code", DEFAULT_PASSWORD)
    response = required.client.post(
        "/api/v1/auth/login", json={"login": "lina", "password": as_code}
    )
    assert_problem(response, "channel_invalid", 400)
    # Unknown channel, tampered ciphertext.
    unknown = {**mine.seal("password", DEFAULT_PASSWORD), "kid": "no-such-channel"}
    response = required.client.post(
        "/api/v1/auth/login", json={"login": "lina", "password": unknown}
    )
    assert_problem(response, "channel_invalid", 400)
    tampered = mine.seal("password", DEFAULT_PASSWORD)
    blob = bytearray(base64.b64decode(tampered["ct"]))
    blob[-1] ^= 1
    tampered["ct"] = base64.b64encode(bytes(blob)).decode()
    response = required.client.post(
        "/api/v1/auth/login", json={"login": "lina", "password": tampered}
    )
    assert_problem(response, "channel_invalid", 400)


def test_an_expired_channel_fails(required: Bank) -> None:
    api = client_for(required)
    api.handshake()
    required.clock.advance(seconds=required.settings.channel_ttl_seconds + 1)
    response = required.client.post(
        "/api/v1/auth/login",
        json={"login": "lina", "password": api.seal("password", DEFAULT_PASSWORD)},
    )
    assert_problem(response, "channel_invalid", 400)


def test_handshake_refuses_bad_keys_and_suites(required: Bank) -> None:
    not_a_point = base64.b64encode(b"\x04" + b"\x01" * 64).decode()
    for suite in SUITES:
        response = required.client.post(
            "/api/v1/channel", json={"suite": suite, "client_public_key": not_a_point}
        )
        assert_problem(response, "channel_key_invalid", 422)
    response = required.client.post(
        "/api/v1/channel", json={"suite": "RSA", "client_public_key": not_a_point}
    )
    assert_problem(response, "validation_error", 422)
    response = required.client.post(
        "/api/v1/channel", json={"suite": "SM2-SM4GCM", "client_public_key": "%%%"}
    )
    assert_problem(response, "channel_key_invalid", 422)


def test_soft_keyboard_positions_confirm_once(required: Bank) -> None:
    api = client_for(required)
    api.token = required.headers["zhangwei"]["Authorization"].split()[1]
    t = api.prepare_transfer(
        from_account_id=required.a.account.public_id,
        to_account_number=required.b.account.account_number,
        payee_name="李娜",
        amount="10.00",
        currency="CNY",
    )
    api.send_transfer_code(t["id"])
    code = code_for(required, "zhangwei")(t["id"])
    board = api.call("POST", "/keyboard")
    assert sorted(board["digits"]) == list(range(10))
    entry = json.dumps(
        {"keyboard": board["id"], "positions": [board["digits"].index(int(d)) for d in DEFAULT_PIN]}
    )
    body = {
        "key_digest": t["key_digest"],
        "transaction_password": api.seal("transaction_password", entry),
        "code": api.seal("code", code),
    }
    done = api.call(
        "POST",
        f"/transfers/{t['id']}/confirm",
        json_body=body,
        headers={"Idempotency-Key": "keyboard-1"},
    )
    assert done["status"] == "COMPLETED"

    # The layout is used up: the same positions under a fresh envelope are refused.
    t2 = api.prepare_transfer(
        from_account_id=required.a.account.public_id,
        to_account_number=required.b.account.account_number,
        payee_name="李娜",
        amount="11.00",
        currency="CNY",
    )
    with pytest.raises(ApiError) as refused:
        api.call(
            "POST",
            f"/transfers/{t2['id']}/confirm",
            json_body={
                "key_digest": t2["key_digest"],
                "transaction_password": api.seal("transaction_password", entry),
                "code": api.seal("code", "000000"),
            },
            headers={"Idempotency-Key": "keyboard-2"},
        )
    assert refused.value.code == "keyboard_expired"


def test_client_soft_keyboard_and_new_layout_each_time(required: Bank) -> None:
    api = client_for(required)
    boards = [api.call("POST", "/keyboard")["digits"] for _ in range(8)]
    assert len({tuple(b) for b in boards}) > 1  # a new permutation per layout
    api.token = required.headers["zhangwei"]["Authorization"].split()[1]
    t = api.prepare_transfer(
        from_account_id=required.a.account.public_id,
        to_account_number=required.b.account.account_number,
        payee_name="李娜",
        amount="12.00",
        currency="CNY",
    )
    api.send_transfer_code(t["id"])
    done = api.confirm_transfer(
        t["id"],
        key_digest=t["key_digest"],
        transaction_password=DEFAULT_PIN,
        code=code_for(required, "zhangwei")(t["id"]),
        soft_keyboard=True,
    )
    assert done["status"] == "COMPLETED"


def test_optional_mode_still_takes_plain_values(bank: Bank) -> None:
    response = bank.client.post(
        "/api/v1/auth/login",
        json={"login": "lina", "password": DEFAULT_PASSWORD},
        headers={"X-Device-Id": "whatever"},
    )
    assert response.status_code == 200


@pytest.mark.parametrize("suite", SUITES)
def test_both_sides_derive_the_same_key(suite: str) -> None:
    kid = "kid-1"
    if suite == "P256-AESGCM":
        private, public = p256_keypair()
        server_public, key = channel.agree(suite, public, kid)  # type: ignore[arg-type]
        mine = channel.derive_key(suite, p256_shared_secret(private, server_public), kid)  # type: ignore[arg-type]
        assert len(key) == 32
    else:
        sm2_private, public = sm2_keypair()
        server_public, key = channel.agree(suite, public, kid)  # type: ignore[arg-type]
        mine = channel.derive_key(suite, sm2_ecdh(sm2_private, server_public), kid)  # type: ignore[arg-type]
        assert len(key) == 16
    assert mine == key


def _login_form(bank: Bank, password: object) -> object:
    page = bank.client.get("/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    return bank.client.post(
        "/login",
        data={"csrf_token": csrf, "login": "lina", "password": password},
        headers={"X-Device-Id": "device-lina"},
        follow_redirects=False,
    )


def test_html_form_takes_envelopes_and_refuses_plain_or_replayed_values(required: Bank) -> None:
    plain = _login_form(required, DEFAULT_PASSWORD)
    assert plain.status_code == 400  # type: ignore[attr-defined]
    assert "安全通道" in plain.text  # type: ignore[attr-defined]
    api = client_for(required)
    sealed = json.dumps(api.seal("password", DEFAULT_PASSWORD))
    accepted = _login_form(required, sealed)
    assert accepted.status_code == 303, accepted.text  # type: ignore[attr-defined]
    replayed = _login_form(required, sealed)
    assert replayed.status_code == 409  # type: ignore[attr-defined]
    garbled = _login_form(required, '{"kid": 1}')
    assert garbled.status_code == 400  # type: ignore[attr-defined]


def test_transaction_password_change_with_two_soft_keyboards(required: Bank) -> None:
    api = client_for(required)
    api.token = required.headers["lina"]["Authorization"].split()[1]
    new_pin = "640285"
    api.call(
        "POST",
        "/security/transaction-password",
        json_body={
            "old_transaction_password": api.seal(
                "old_transaction_password", api.keyboard_entry(DEFAULT_PIN)
            ),
            "new_transaction_password": api.seal(
                "new_transaction_password", api.keyboard_entry(new_pin)
            ),
        },
    )
    # Positions typed on one layout cannot be replayed for another field or request.
    entry = api.keyboard_entry(new_pin)
    with pytest.raises(ApiError) as refused:
        api.call(
            "POST",
            "/security/transaction-password",
            json_body={
                "old_transaction_password": api.seal("old_transaction_password", entry),
                "new_transaction_password": api.seal("new_transaction_password", entry),
            },
        )
    assert refused.value.code == "keyboard_expired"


def test_handshakes_and_layouts_are_rate_limited_per_ip(required: Bank) -> None:
    assert rule_for("POST", "/api/v1/channel") == "channel"
    assert rule_for("POST", "/api/v1/keyboard") == "channel"
    required.settings.ratelimit_channel_per_ip = 2
    for _ in range(2):
        assert required.client.post("/api/v1/keyboard").status_code == 201
    assert_problem(required.client.post("/api/v1/keyboard"), "rate_limited", 429)


def test_sm2_handshake_with_short_scalars_on_both_sides(
    required: Bank, monkeypatch: pytest.MonkeyPatch
) -> None:
    """About 1 SM2 scalar in 256 has a leading zero byte, which gmalg returns as a 31-byte
    key: server and client alike must still agree (it used to be 422 channel_key_invalid)."""
    import gmalg

    real = gmalg.SM2.generate_keypair

    def short_scalar(self: gmalg.SM2) -> tuple[bytes, bytes]:
        while True:
            sk, _pk = real(self)
            if len(sk) == 32 and sk[0] < 0x10:  # a cheap way to a small scalar: drop a byte
                short = sk[1:]
                return short, gmalg.SM2().generate_pk(short)

    monkeypatch.setattr(gmalg.SM2, "generate_keypair", short_scalar)
    api = client_for(required, "SM2-SM4GCM", device="dev-short-sm2")
    body = api.login(
        "zhangwei",
        DEFAULT_PASSWORD,
        code_callback=code_for(required, "zhangwei"),
        id_number=id_of(required, "zhangwei"),
    )
    assert body["status"] == "authenticated"
