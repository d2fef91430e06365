"""Argon2id password hashing.

Parameters are OWASP's minimum for Argon2id (m = 19 MiB, t = 2, p = 1): the floor the
Password Storage Cheat Sheet sets, chosen so a 2-core node still serves many logins a
second. Hashes carry their parameters, so raising them later rehashes on next login.
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)

# A valid hash of a random value: verified against when the user does not exist, so a
# missing user costs the same time as a wrong password.
_DUMMY_HASH = _hasher.hash("wangyin-dummy-password-for-timing")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)
