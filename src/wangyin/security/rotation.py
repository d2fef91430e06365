"""`wangyin keys rotate`: a new active data key, and every encrypted value re-written."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.orm import Session

from wangyin.db import Database
from wangyin.security.fields import decrypt_value, encrypt_value, key_id_of
from wangyin.security.keys import DEV_KEY_FILE, load_keyring, use_keyring
from wangyin.uow import run_write

# (table, column, field name): what EncryptedString and the outbox protect. Table and
# column names are fixed here, never from input.
_TARGETS = (
    ("customers", "id_number", "id_number"),
    ("customers", "mobile", "mobile"),
    ("cards", "number", "card_number"),
    ("outbox_messages", "recipient", "outbox_recipient"),
    ("outbox_messages", "body", "outbox_body"),
)


def rotate(db: Database, *, key_file: Path | None = None) -> dict[str, int]:
    """Write the new keyring first (old keys stay, so a crash midway still reads), then
    re-encrypt row by row in batches under the new active key."""
    path = key_file or Path(os.environ.get("WANGYIN_KEY_FILE") or DEV_KEY_FILE)
    ring = load_keyring().with_new_key()
    tmp = path.with_name(path.name + ".new")
    tmp.write_text(ring.to_json())
    tmp.chmod(0o600)
    tmp.replace(path)
    use_keyring(ring)
    counts: dict[str, int] = {}
    for table, column, field in _TARGETS:
        # Plain SQL: the stored text as it is, without the ORM's automatic decryption.
        def batch(s: Session, table: str = table, column: str = column, field: str = field) -> int:
            rows = s.execute(text(f"SELECT id, {column} FROM {table}")).all()  # noqa: S608
            changed = 0
            for row_id, stored in rows:
                if not stored or key_id_of(stored) == ring.active:
                    continue
                s.execute(
                    text(f"UPDATE {table} SET {column} = :v WHERE id = :id"),  # noqa: S608
                    {"v": encrypt_value(field, decrypt_value(field, stored)), "id": row_id},
                )
                changed += 1
            return changed

        counts[f"{table}.{column}"] = run_write(db, batch)
    return counts
