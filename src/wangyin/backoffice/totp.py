"""The staff's second factor: TOTP (RFC 6238) with pyotp, on the injectable clock.

The secret is encrypted under the keyring's active data key, bound to the staff member's
public id (a secret copied into another staff row does not decrypt). A code is accepted
once: the time step it matched is kept, and a code of that step or an earlier one is
refused (RFC 6238 §5.2); one step of clock drift either way is allowed.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime

import pyotp

from wangyin.security.crypto import CryptoError, aead_decrypt, aead_encrypt, constant_time_equal
from wangyin.security.keys import KeyringError, load_keyring

ISSUER = "Wangyin Back Office"
_AAD = "wangyin staff totp v1|"
DRIFT_STEPS = 1


def new_secret() -> str:
    return pyotp.random_base32()  # 160 bits, RFC 4226's recommended length


def seal(secret: str, *, staff_public_id: str) -> str:
    ring = load_keyring()
    blob = aead_encrypt(
        ring.algorithm, ring.active_key, secret.encode(), (_AAD + staff_public_id).encode()
    )
    return f"{ring.active}:{base64.b64encode(blob).decode()}"


def unseal(stored: str, *, staff_public_id: str) -> str | None:
    """The clear secret, or None when it does not decrypt for this staff member."""
    key_id, _, payload = stored.partition(":")
    ring = load_keyring()
    try:
        blob = base64.b64decode(payload, validate=True)
        return aead_decrypt(
            ring.algorithm, ring.key(key_id), blob, (_AAD + staff_public_id).encode()
        ).decode()
    except (CryptoError, KeyringError, binascii.Error, ValueError):
        return None


def provisioning_uri(secret: str, *, username: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=ISSUER)


def matched_step(secret: str, code: str, *, at: datetime, after_step: int) -> int | None:
    """The time step `code` is right for (within the drift), if later than `after_step`."""
    if not (len(code) == 6 and code.isdigit()):
        return None
    totp = pyotp.TOTP(secret)
    now_step = totp.timecode(at)
    for offset in range(-DRIFT_STEPS, DRIFT_STEPS + 1):
        step = now_step + offset
        if step > after_step and constant_time_equal(totp.generate_otp(step), code):
            return step
    return None
