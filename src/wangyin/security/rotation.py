"""`wangyin keys rotate`: a new version of every key in the keyring, and every value that
depends on one rewritten.

- data key (k1 → k2): every encrypted value re-encrypted under the new key, still bound
  to its row (security.fields);
- look-up key (l1 → l2): every look-up hash (customers.id_number_hash, .mobile_hash,
  cards.number_hash, payees.number_hash, outbox_messages.recipient_lookup) recomputed
  from the decrypted value, in the same UPDATE as the re-encryption (a card number is
  bound to its look-up hash);
- audit key (a1 → a2) and pepper (p1 → p2): nothing to rewrite. New audit records and the
  next checkpoint are keyed with a2 while a1 keeps verifying the records before; a password
  or PIN hashed with p1 keeps verifying and is re-hashed with p2 when next entered.

The new keyring is written first (old versions stay, so a crash midway still reads every
value); the rows are then rewritten a table at a time. Running it again after a crash
finishes the job under yet newer keys: every row is rewritten from its decrypted value,
whatever version it was left under. Run it with the app's processes stopped, or restart
them right after (docs/operations.md): a process still holding the old keyring computes
look-up hashes with the old key until it restarts.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.orm import Session

from wangyin.db import Database
from wangyin.security.fields import decrypt_value, encrypt_value, is_bound, lookup_hash
from wangyin.security.keys import DEV_KEY_FILE, load_keyring, use_keyring
from wangyin.uow import run_write

# Table and column names below are fixed here, never from input (hence the noqa: S608).


def _customers(s: Session) -> dict[str, int]:
    rows = s.execute(text("SELECT id, public_id, id_number, mobile FROM customers")).all()
    for row_id, public_id, id_stored, mobile_stored in rows:
        id_number = decrypt_value("id_number", id_stored, row=public_id)
        mobile = decrypt_value("mobile", mobile_stored, row=public_id)
        s.execute(
            text(
                "UPDATE customers SET id_number = :i, id_number_hash = :ih, mobile = :m, "
                "mobile_hash = :mh WHERE id = :id"
            ),
            {
                "i": encrypt_value("id_number", id_number, row=public_id),
                "ih": lookup_hash(id_number),
                "m": encrypt_value("mobile", mobile, row=public_id),
                "mh": lookup_hash(mobile),
                "id": row_id,
            },
        )
    return {"customers.id_number": len(rows), "customers.mobile": len(rows)}


def _cards(s: Session) -> dict[str, int]:
    rows = s.execute(text("SELECT id, number, number_hash FROM cards")).all()
    for row_id, stored, number_hash in rows:
        number = decrypt_value("card_number", stored, row=number_hash)
        new_hash = lookup_hash(number)
        s.execute(
            text("UPDATE cards SET number = :n, number_hash = :h WHERE id = :id"),
            {"n": encrypt_value("card_number", number, row=new_hash), "h": new_hash, "id": row_id},
        )
    return {"cards.number": len(rows)}


def _payees(s: Session) -> dict[str, int]:
    rows = s.execute(text("SELECT id, public_id, number FROM payees")).all()
    for row_id, public_id, stored in rows:
        number = decrypt_value("payee_number", stored, row=public_id)
        s.execute(
            text("UPDATE payees SET number = :n, number_hash = :h WHERE id = :id"),
            {
                "n": encrypt_value("payee_number", number, row=public_id),
                "h": lookup_hash(number),
                "id": row_id,
            },
        )
    return {"payees.number": len(rows)}


def _reencrypt(field: str, stored: str, row: str) -> tuple[str, str]:
    """(clear, new stored) for an outbox value, keeping its format (bound or not)."""
    binding = row if is_bound(stored) else None
    clear = decrypt_value(field, stored, row=binding)
    return clear, encrypt_value(field, clear, row=binding)


def _outbox(s: Session) -> dict[str, int]:
    rows = s.execute(text("SELECT id, public_id, recipient, body FROM outbox_messages")).all()
    bodies = 0
    for row_id, public_id, recipient, body in rows:
        phone, new_recipient = _reencrypt("outbox_recipient", recipient, public_id)
        new_body = body
        if body:  # erased after delivery outside dev
            _, new_body = _reencrypt("outbox_body", body, public_id)
            bodies += 1
        s.execute(
            text(
                "UPDATE outbox_messages SET recipient = :r, recipient_lookup = :h, body = :b "
                "WHERE id = :id"
            ),
            {"r": new_recipient, "h": lookup_hash(phone), "b": new_body, "id": row_id},
        )
    return {"outbox_messages.recipient": len(rows), "outbox_messages.body": bodies}


def _bound_by_key(
    table: str, key: str, column: str, field: str
) -> Callable[[Session], dict[str, int]]:
    def rewrite(s: Session) -> dict[str, int]:
        rows = s.execute(text(f"SELECT {key}, {column} FROM {table}")).all()  # noqa: S608
        for row_key, stored in rows:
            clear = decrypt_value(field, stored, row=row_key)
            s.execute(
                text(f"UPDATE {table} SET {column} = :v WHERE {key} = :k"),  # noqa: S608
                {"v": encrypt_value(field, clear, row=row_key), "k": row_key},
            )
        return {f"{table}.{column}": len(rows)}

    return rewrite


_STEPS: tuple[Callable[[Session], dict[str, int]], ...] = (
    _customers,
    _cards,
    _payees,
    _outbox,
    _bound_by_key("channels", "kid", "key", "channel_key"),
    _bound_by_key("keyboard_layouts", "id", "digits", "keyboard_layout"),
)


def rotate(db: Database, *, key_file: Path | None = None) -> dict[str, int]:
    """Write the rotated keyring first, then rewrite every table in its own transaction.
    Returns how many values of each column were re-encrypted."""
    path = key_file or Path(os.environ.get("WANGYIN_KEY_FILE") or DEV_KEY_FILE)
    ring = load_keyring().rotated()
    tmp = path.with_name(path.name + ".new")
    tmp.write_text(ring.to_json())
    tmp.chmod(0o600)
    tmp.replace(path)
    use_keyring(ring)
    counts: dict[str, int] = {}
    for step in _STEPS:
        counts.update(run_write(db, step))
    return counts
