"""Argon2id password and transaction-PIN hashing, with a pepper from the keyring.

Parameters are OWASP's minimum for Argon2id (m = 19 MiB, t = 2, p = 1): the floor the
Password Storage Cheat Sheet sets, chosen so a 2-core node still serves many logins a
second. Hashes carry their parameters, so raising them later rehashes on next login.

The pepper (issue 11 #15): a six-digit PIN has a million values, so its Argon2 hash alone
is found by trying them all (a few core-hours). Before Argon2 the secret is passed through
HMAC-SM3 under the keyring's pepper key, which lives outside the database: a copy of the
database is no longer enough to guess. A peppered hash is an ordinary Argon2id PHC string
with the pepper's key id as the `keyid` parameter the PHC format defines for Argon2
(`$argon2id$v=19$m=19456,t=2,p=1,keyid=cDE$salt$hash`, keyid = unpadded base64 of "p1");
the key id picks the pepper version, so `wangyin keys rotate` (a new pepper version) leaves
every hash verifying. Hashes of before (plain `$argon2id$…`) still verify, and
`needs_rehash` is true for them and for an older pepper version: callers re-hash on a
successful check (`rehash_if_needed`).
"""

from __future__ import annotations

import base64
import binascii
import hmac

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from wangyin.security.crypto import keyed_hash
from wangyin.security.keys import KeyringError, load_keyring

_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
KEYID = "keyid="

# A valid hash of a random value: verified against when the user does not exist, so a
# missing user costs the same time as a wrong password (the HMAC's cost is negligible).
_DUMMY_HASH = _hasher.hash("wangyin-dummy-password-for-timing")


def _peppered(secret: str, key: bytes) -> str:
    # Hex, so Argon2 hashes text as before (and the digest never holds a NUL).
    return keyed_hash(key, secret.encode(), algorithm="SM3")


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode().rstrip("=")


def _unb64(text: str) -> str:
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True).decode()


def pepper_of(stored: str) -> str | None:
    """The pepper key id of a stored hash (None: a hash of before the pepper)."""
    return _split(stored)[0]


def _split(stored: str) -> tuple[str | None, str]:
    """(pepper key id or None, the Argon2 hash as argon2-cffi reads it)."""
    parts = stored.split("$")
    if len(parts) < 4:
        return None, stored
    params = parts[3].split(",")
    keyids = [p for p in params if p.startswith(KEYID)]
    if not keyids:
        return None, stored
    try:
        key_id = _unb64(keyids[0][len(KEYID) :])
    except (binascii.Error, ValueError):
        key_id = ""  # a key id that is no key's: verifies nothing
    parts[3] = ",".join(p for p in params if not p.startswith(KEYID))
    return key_id, "$".join(parts)


def hash_password(password: str) -> str:
    pepper = load_keyring().pepper
    parts = _hasher.hash(_peppered(password, pepper.active_key)).split("$")
    parts[3] += f",{KEYID}{_b64(pepper.active)}"
    return "$".join(parts)


def verify_password(password_hash: str | None, password: str) -> bool:
    if password_hash is None:
        _check(_DUMMY_HASH, password)
        return False
    key_id, inner = _split(password_hash)
    if key_id is None:
        return _check(inner, password)
    try:
        key = load_keyring().pepper.key(key_id)
    except KeyringError:
        _check(_DUMMY_HASH, password)
        return False
    return _check(inner, _peppered(password, key))


def _check(inner: str, secret: str) -> bool:
    try:
        return bool(_hasher.verify(inner, secret))
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """True for a hash without the active pepper or with older Argon2 parameters."""
    key_id, inner = _split(password_hash)
    if key_id is None or not hmac.compare_digest(key_id, load_keyring().pepper.active):
        return True
    try:
        return _hasher.check_needs_rehash(inner)
    except InvalidHashError:
        return True


def rehash_if_needed(password_hash: str, password: str) -> str | None:
    """After a successful check: the hash to store instead (peppered with the active
    version), or None when the stored one is current."""
    return hash_password(password) if needs_rehash(password_hash) else None
