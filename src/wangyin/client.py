"""A small Python client for the Wangyin API that speaks the secure channel.

    with WangyinClient("https://bank.example", suite="SM2-SM4GCM") as bank:
        bank.login("zhangwei", "secret-pass1", code_callback=lambda challenge: input("code: "),
                   id_number="110101199003074578")
        t = bank.prepare_transfer(from_account_id=..., to_account_number=..., payee_name=...,
                                  amount="88.80", currency="CNY")
        bank.send_transfer_code(t["id"])
        bank.confirm_transfer(t["id"], key_digest=t["key_digest"], transaction_password="135790",
                              code=input("code: "))

It opens a channel (`POST /api/v1/channel`, ECDH P-256 or SM2, HKDF-SHA256), keeps the
counter and sends every sensitive field as an envelope. A channel belongs to the login
session it was opened in: `login` seals the password under a fresh anonymous channel and,
once logged in, the next envelope opens a new channel of the new session. Any object with httpx's
`request(method, url, json=..., headers=...)` can carry it (tests pass a TestClient).
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

import httpx

from wangyin.security.channel import Suite, derive_key, seal
from wangyin.security.crypto import p256_keypair, p256_shared_secret, sm2_ecdh, sm2_keypair

API = "/api/v1"


class ApiError(Exception):
    """A problem+json answer: `code` is the stable machine code."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(f"{status} {body.get('code')}: {body.get('detail')}")
        self.status = status
        self.code = str(body.get("code", ""))
        self.body = body


class _Http(Protocol):
    def request(self, method: str, url: str, **kwargs: Any) -> Any: ...


@dataclass
class ChannelKey:
    kid: str
    suite: Suite
    key: bytes
    counter: int = 0


class WangyinClient:
    def __init__(
        self,
        base_url: str = "",
        *,
        http: _Http | None = None,
        suite: Suite = "P256-AESGCM",
        device_id: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        self._own_http = http is None
        self.http: _Http | httpx.Client = http or httpx.Client(timeout=timeout)
        self.base_url = base_url.rstrip("/")
        self.suite: Suite = suite
        self.device_id = device_id
        self.token: str | None = None
        self.channel: ChannelKey | None = None

    def __enter__(self) -> WangyinClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._own_http and isinstance(self.http, httpx.Client):
            self.http.close()

    # --- transport ------------------------------------------------------------------

    def headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers: dict[str, str] = {}
        if self.device_id:
            headers["X-Device-Id"] = self.device_id
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return {**headers, **(extra or {})}

    def raw(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        """The HTTP response as it is (no error check)."""
        kwargs: dict[str, Any] = {"headers": self.headers(headers)}
        if json_body is not None:
            kwargs["json"] = json_body
        return self.http.request(method, f"{self.base_url}{API}{path}", **kwargs)

    def call(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        """The JSON answer (None for 204); a problem answer raises ApiError."""
        response = self.raw(method, path, json_body=json_body, headers=headers)
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = {"code": "", "detail": response.text}
            raise ApiError(response.status_code, body)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    # --- the channel ----------------------------------------------------------------

    def handshake(self, suite: Suite | None = None) -> ChannelKey:
        """Open a new channel: an ephemeral key pair, the server's public key, HKDF."""
        suite = suite or self.suite
        agree: Callable[[bytes], bytes]
        if suite == "P256-AESGCM":
            private, public = p256_keypair()
            agree = partial(p256_shared_secret, private)
        else:
            sm2_private, public = sm2_keypair()
            agree = partial(sm2_ecdh, sm2_private)
        answer = self.call(
            "POST",
            "/channel",
            json_body={"suite": suite, "client_public_key": base64.b64encode(public).decode()},
        )
        shared = agree(base64.b64decode(answer["server_public_key"]))
        kid = str(answer["kid"])
        self.channel = ChannelKey(kid=kid, suite=suite, key=derive_key(suite, shared, kid))
        return self.channel

    def seal(self, field: str, plaintext: str) -> dict[str, Any]:
        """An envelope for one field under the next counter (opens a channel if needed)."""
        channel = self.channel or self.handshake()
        channel.counter += 1
        envelope = seal(
            channel.suite,
            channel.key,
            kid=channel.kid,
            ctr=channel.counter,
            field=field,
            plaintext=plaintext,
        )
        return envelope.model_dump()

    def keyboard_entry(self, digits: str) -> str:
        """What the soft keyboard sends for `digits`: a one-time layout's positions."""
        board = self.call("POST", "/keyboard")
        layout = [int(d) for d in board["digits"]]
        positions = [layout.index(int(d)) for d in digits]
        return json.dumps({"keyboard": board["id"], "positions": positions})

    # --- identity -------------------------------------------------------------------

    def login(
        self,
        login: str,
        password: str,
        *,
        code_callback: Callable[[str], str] | None = None,
        id_number: str | None = None,
        code_channel: str = "sms",
    ) -> dict[str, Any]:
        """Password, then (at night or from a new device) the code from `code_callback`,
        which is called with the challenge id once the code has been sent. The login's
        envelopes go under a fresh anonymous channel; afterwards the client opens a
        channel of the new session on its next envelope."""
        self.token = None
        self.handshake()
        body: dict[str, Any] = self.call(
            "POST",
            "/auth/login",
            json_body={"login": login, "password": self.seal("password", password)},
        )
        if body["status"] == "challenge_required":
            if code_callback is None:
                raise ApiError(401, {"code": "challenge_required", "detail": body["reasons"]})
            challenge = body["challenge_id"]
            self.call(
                "POST",
                "/auth/login/code",
                json_body={"challenge_id": challenge, "channel": code_channel},
            )
            code = code_callback(challenge)
            verify: dict[str, Any] = {"challenge_id": challenge, "code": self.seal("code", code)}
            if id_number:
                verify["id_number"] = self.seal("id_number", id_number)
            body = self.call("POST", "/auth/login/verify", json_body=verify)
        self.token = body["token"]
        self.channel = None  # the session's own channel is opened on the next envelope
        return body

    def logout(self) -> None:
        self.call("POST", "/auth/logout")
        self.token = None
        self.channel = None

    # --- transfers ------------------------------------------------------------------

    def prepare_transfer(
        self, *, idempotency_key: str | None = None, **fields: str
    ) -> dict[str, Any]:
        key = idempotency_key or secrets.token_urlsafe(24)
        result: dict[str, Any] = self.call(
            "POST", "/transfers", json_body=fields, headers={"Idempotency-Key": key}
        )
        return result

    def send_transfer_code(self, transfer_id: str, channel: str = "sms") -> None:
        self.call("POST", f"/transfers/{transfer_id}/code", json_body={"channel": channel})

    def confirm_transfer(
        self,
        transfer_id: str,
        *,
        key_digest: str,
        transaction_password: str | None = None,
        code: str | None = None,
        idempotency_key: str | None = None,
        soft_keyboard: bool = False,
    ) -> dict[str, Any]:
        """Confirm once; a retry with the same `idempotency_key` re-encrypts the factors."""
        body: dict[str, Any] = {"key_digest": key_digest}
        if transaction_password is not None:
            pin = (
                self.keyboard_entry(transaction_password) if soft_keyboard else transaction_password
            )
            body["transaction_password"] = self.seal("transaction_password", pin)
        if code is not None:
            body["code"] = self.seal("code", code)
        key = idempotency_key or secrets.token_urlsafe(24)
        result: dict[str, Any] = self.call(
            "POST",
            f"/transfers/{transfer_id}/confirm",
            json_body=body,
            headers={"Idempotency-Key": key},
        )
        return result
