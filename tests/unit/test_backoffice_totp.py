"""The staff's TOTP (RFC 6238) on the injectable clock: one step of drift, a code good
once, and the secret encrypted and bound to its staff row."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyotp

from wangyin.backoffice import totp

AT = datetime(2026, 3, 2, 2, 0, 10, tzinfo=UTC)


def test_rfc_6238_codes_within_one_step_of_drift() -> None:
    secret = totp.new_secret()
    generator = pyotp.TOTP(secret)
    now = generator.timecode(AT)
    assert totp.matched_step(secret, generator.at(AT), at=AT, after_step=0) == now
    previous = generator.at(AT - timedelta(seconds=30))
    assert totp.matched_step(secret, previous, at=AT, after_step=0) == now - 1
    older = generator.at(AT - timedelta(seconds=60))
    if older not in (generator.at(AT), previous, generator.at(AT + timedelta(seconds=30))):
        assert totp.matched_step(secret, older, at=AT, after_step=0) is None
    assert totp.matched_step(secret, "12345", at=AT, after_step=0) is None
    assert totp.matched_step(secret, "abcdef", at=AT, after_step=0) is None


def test_a_code_is_good_once() -> None:
    secret = totp.new_secret()
    code = pyotp.TOTP(secret).at(AT)
    step = totp.matched_step(secret, code, at=AT, after_step=0)
    assert step is not None
    assert totp.matched_step(secret, code, at=AT, after_step=step) is None


def test_the_secret_is_encrypted_and_bound_to_its_staff_row() -> None:
    secret = totp.new_secret()
    stored = totp.seal(secret, staff_public_id="staff-a")
    assert secret not in stored
    assert totp.unseal(stored, staff_public_id="staff-a") == secret
    assert totp.unseal(stored, staff_public_id="staff-b") is None
    assert totp.unseal("k1:not-base64!", staff_public_id="staff-a") is None
    uri = totp.provisioning_uri(secret, username="teller")
    assert uri.startswith("otpauth://totp/") and f"secret={secret}" in uri
