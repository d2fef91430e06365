"""Public identifiers: random and time-ordered (UUIDv7), never sequential integers."""

import secrets

import uuid_utils


def new_public_id() -> str:
    return str(uuid_utils.uuid7())


def new_token() -> str:
    """Opaque secret token with 256 bits from the CSPRNG (sessions, CSRF)."""
    return secrets.token_urlsafe(32)
