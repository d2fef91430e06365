"""Encrypted columns and their keyed-hash look-up twins (4.1.6-c, 4.4-b2).

`EncryptedString("id_number")` stores `kid:ciphertext` (AES-GCM or SM4-GCM with the
field name as associated data, so a value cannot be moved to another column), and
`lookup_hash(value)` is the HMAC used to find a row by its clear value.
"""

from __future__ import annotations

import base64
from typing import Any

from sqlalchemy import String
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from wangyin.security.crypto import aead_decrypt, aead_encrypt, keyed_hash
from wangyin.security.keys import load_keyring


def encrypt_value(field: str, value: str) -> str:
    ring = load_keyring()
    blob = aead_encrypt(ring.algorithm, ring.active_key, value.encode(), field.encode())
    return f"{ring.active}:{base64.b64encode(blob).decode()}"


def decrypt_value(field: str, stored: str) -> str:
    ring = load_keyring()
    key_id, _, payload = stored.partition(":")
    blob = base64.b64decode(payload)
    return aead_decrypt(ring.algorithm, ring.key(key_id), blob, field.encode()).decode()


def key_id_of(stored: str) -> str:
    return stored.partition(":")[0]


def lookup_hash(value: str) -> str:
    return keyed_hash(load_keyring().lookup_key, value.encode())


class EncryptedString(TypeDecorator[str]):
    """A string column whose clear value never reaches the database."""

    impl = String(300)
    cache_ok = True

    def __init__(self, field: str) -> None:
        super().__init__()
        self.field = field

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else encrypt_value(self.field, value)

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else decrypt_value(self.field, str(value))
