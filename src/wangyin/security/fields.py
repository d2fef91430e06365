"""Encrypted columns bound to their row, and their keyed-hash look-up twins (4.1.6-c, 4.4-b2).

A value is stored as `kid:2:base64(nonce || ciphertext || tag)` (AES-GCM or SM4-GCM under
data key `kid`), with associated data

    b"wangyin field v2|" + field + "|" + table + "." + column + "|" + binding

where `binding` is a value of the same row that the row keeps for life and that is known
before the INSERT (the row id is not, for new rows):

| field             | column                     | bound to            |
|-------------------|----------------------------|---------------------|
| `id_number`       | customers.id_number        | customers.public_id |
| `mobile`          | customers.mobile           | customers.public_id |
| `card_number`     | cards.number               | cards.number_hash   |
| `channel_key`     | channels.key               | channels.kid        |
| `keyboard_layout` | keyboard_layouts.digits    | keyboard_layouts.id |
| `outbox_recipient` | outbox_messages.recipient | outbox_messages.public_id (when passed) |
| `outbox_body`     | outbox_messages.body       | outbox_messages.public_id (when passed) |

So a ciphertext copied into another row (another customer's mobile into this customer's
row) no longer decrypts: `FieldIntegrityError` names the column and the row, reads fail
closed, and `wangyin verify` lists every such value. Customers are bound to their public id,
which is unique and never changes: copying both a customer's mobile and public id would
mean becoming that customer. Cards have no public id; a card number is bound to its own
look-up hash, which is unique, so a card's number cannot be planted in another card row,
only the row itself re-pointed (which is no longer a question of encryption). The look-up
hash changes with the look-up key: `keys rotate` re-hashes and re-encrypts in one UPDATE.

`EncryptedString` does this for ORM models without any change to them: before an INSERT or
UPDATE, the row's binding rides along with the clear value (`Bound`, a `str`), and every
SELECT of the column also selects the binding (`column_expression`), so Core queries over
aliases and labels decrypt too. The first format (`kid:base64`, the field name alone as
associated data) is refused for these columns (migration 20261204_0050 re-encrypted it),
and still read for the outbox while its writer passes no binding.

`lookup_hash(value)` is the HMAC-SHA256, under the keyring's active look-up key, that finds
a row by its clear value.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import String, event, func, literal_column, text, type_coerce
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.orm import Mapper, Session, attributes
from sqlalchemy.sql.elements import ColumnElement, Label
from sqlalchemy.types import TypeDecorator

from wangyin.security.crypto import CryptoError, aead_decrypt, aead_encrypt, keyed_hash
from wangyin.security.keys import KeyringError, load_keyring

BOUND_SCHEME = "2"
AAD_PREFIX = "wangyin field v2|"
SEPARATOR = "|"  # between a selected value and its binding (neither holds one)


@dataclass(frozen=True)
class FieldSpec:
    table: str
    column: str
    binding: str  # the column of the same row the value is bound to
    required: bool = True  # False: the first format is still read (no binding passed)


FIELDS: dict[str, FieldSpec] = {
    "id_number": FieldSpec("customers", "id_number", "public_id"),
    "mobile": FieldSpec("customers", "mobile", "public_id"),
    "card_number": FieldSpec("cards", "number", "number_hash"),
    "payee_number": FieldSpec("payees", "number", "public_id"),
    "channel_key": FieldSpec("channels", "key", "kid"),
    "keyboard_layout": FieldSpec("keyboard_layouts", "digits", "id"),
    "outbox_recipient": FieldSpec("outbox_messages", "recipient", "public_id", required=False),
    "outbox_body": FieldSpec("outbox_messages", "body", "public_id", required=False),
}


class FieldIntegrityError(CryptoError):
    """A stored value that does not belong where it is (moved from another row, altered, or
    not bound to its row at all)."""


class Bound(str):
    """A clear value on its way to an encrypted column, with the row value it is bound to."""

    row: str

    def __new__(cls, value: str, row: str) -> Bound:
        bound = super().__new__(cls, value)
        bound.row = row
        return bound


def spec_of(field: str) -> FieldSpec:
    try:
        return FIELDS[field]
    except KeyError:
        raise KeyError(f"unknown encrypted field {field!r}") from None


def _aad(field: str, row: str | None) -> bytes:
    if row is None:
        return field.encode()  # the first format: the field name alone
    spec = spec_of(field)
    return f"{AAD_PREFIX}{field}|{spec.table}.{spec.column}|{row}".encode()


def encrypt_value(field: str, value: str, *, row: str | None = None) -> str:
    """`value` under the active data key, bound to `row` (the binding column's value).
    Without `row`, the first format (the outbox while its writer passes none, and the
    migrations written before binding)."""
    spec_of(field)
    ring = load_keyring()
    blob = aead_encrypt(ring.algorithm, ring.active_key, value.encode(), _aad(field, row))
    payload = base64.b64encode(blob).decode()
    return f"{ring.active}:{payload}" if row is None else f"{ring.active}:{BOUND_SCHEME}:{payload}"


def decrypt_value(field: str, stored: str, *, row: str | None = None) -> str:
    """The clear value of `stored`, which must be bound to `row`. A value of the first
    format is refused where the field's binding is required and a row is given (a value
    copied in from before the binding, or from an old backup); without a row it reads as
    it was written (the migrations that predate binding)."""
    spec = spec_of(field)
    where = f"{spec.table}.{spec.column}" + (f" of row {row}" if row is not None else "")
    key_id, _, rest = stored.partition(":")
    scheme, _, payload = rest.partition(":") if ":" in rest else ("", "", rest)
    if scheme == BOUND_SCHEME:
        if row is None:
            raise FieldIntegrityError(f"{where}: the value is bound to a row, none was given")
        aad = _aad(field, row)
    elif scheme or (row is not None and spec.required):
        raise FieldIntegrityError(
            f"{where}: the value is not bound to its row (written before 20261204_0050: "
            "run `wangyin db upgrade`; otherwise copied in from elsewhere)"
        )
    else:
        aad = _aad(field, None)
    ring = load_keyring()
    try:
        blob = base64.b64decode(payload, validate=True)
        return aead_decrypt(ring.algorithm, ring.key(key_id), blob, aad).decode()
    except (CryptoError, binascii.Error, ValueError):
        raise FieldIntegrityError(
            f"{where} does not decrypt: the value was moved from another row, or altered"
        ) from None
    except KeyringError as exc:
        raise FieldIntegrityError(f"{where}: {exc}") from None


def key_id_of(stored: str) -> str:
    return stored.partition(":")[0]


def is_bound(stored: str) -> bool:
    return stored.partition(":")[2].startswith(BOUND_SCHEME + ":")


def lookup_hash(value: str) -> str:
    return keyed_hash(load_keyring().lookup_key, value.encode())


class EncryptedString(TypeDecorator[str]):
    """A string column whose clear value never reaches the database, bound to its row."""

    impl = String(300)
    cache_ok = True

    def __init__(self, field: str) -> None:
        super().__init__()
        self.field = field

    def column_expression(self, colexpr: ColumnElement[Any]) -> ColumnElement[Any] | None:
        """SELECT the value together with its row's binding: `value || '|' || binding`."""
        label = colexpr.name if isinstance(colexpr, Label) else None
        column = colexpr.element if isinstance(colexpr, Label) else colexpr
        selectable = getattr(column, "table", None)
        binding_name = spec_of(self.field).binding
        binding = getattr(getattr(selectable, "c", None), binding_name, None)
        if binding is None:
            return None  # read without its binding: decrypting will say so
        glued = type_coerce(
            column.concat(literal_column("'|'")).concat(_coalesce(binding)),
            self,
        )
        return glued.label(label) if label else glued

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        if not isinstance(value, Bound):
            spec = spec_of(self.field)
            raise FieldIntegrityError(
                f"{spec.table}.{spec.column} is written through the ORM, or with "
                f"fields.Bound(value, row={spec.binding})"
            )
        return encrypt_value(self.field, str(value), row=value.row)

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        stored, glue, row = str(value).partition(SEPARATOR)
        if not glue:
            spec = spec_of(self.field)
            raise FieldIntegrityError(
                f"{spec.table}.{spec.column} was read without its row's {spec.binding} "
                "(read it from its table, or from a subquery that has that column)"
            )
        return decrypt_value(self.field, stored, row=row)


def _coalesce(binding: ColumnElement[Any]) -> ColumnElement[Any]:
    return func.coalesce(binding, literal_column("''"))


# --- ORM: the row's binding rides along with each clear value -----------------------------


@cache
def _bound_columns(mapper: Mapper[Any]) -> tuple[tuple[str, str, str], ...]:
    """(attribute, binding attribute, field) for each EncryptedString column of a mapper."""
    found = []
    for column in mapper.local_table.columns:
        if isinstance(column.type, EncryptedString):
            spec = spec_of(column.type.field)
            key = mapper.get_property_by_column(column).key
            binding = mapper.get_property_by_column(mapper.local_table.c[spec.binding]).key
            found.append((key, binding, column.type.field))
    return tuple(found)


def _bind_row(mapper: Mapper[Any], _connection: Connection, target: Any) -> None:
    columns = _bound_columns(mapper)
    if not columns:
        return
    state = attributes.instance_state(target)
    for key, binding_key, field in columns:
        value = state.dict.get(key)
        if value is None:
            if attributes.get_history(target, binding_key).has_changes() and state.has_identity:
                spec = spec_of(field)
                raise FieldIntegrityError(
                    f"{spec.table}.{spec.binding} binds {spec.table}.{spec.column}: it cannot "
                    "change on its own"
                )
            continue
        binding = state.dict.get(binding_key)
        if binding is None:
            spec = spec_of(field)
            raise FieldIntegrityError(f"{spec.table}.{spec.column} needs {spec.binding} set")
        if state.has_identity and attributes.get_history(target, binding_key).has_changes():
            attributes.flag_modified(target, key)  # re-encrypted for the new binding
        state.dict[key] = Bound(str(value), str(binding))


event.listen(Mapper, "before_insert", _bind_row)
event.listen(Mapper, "before_update", _bind_row)


# --- `wangyin verify` ---------------------------------------------------------------------

# (table, primary key, encrypted column, binding column, field), fixed here, never input.
TARGETS = (
    ("customers", "id", "id_number", "public_id", "id_number"),
    ("customers", "id", "mobile", "public_id", "mobile"),
    ("cards", "id", "number", "number_hash", "card_number"),
)


def verify_fields(session: Session) -> tuple[int, list[str]]:
    """(values checked, problems): every customer's ID number and mobile and every card
    number must decrypt for its own row."""
    checked, problems = 0, []
    for table, pk, column, binding, field in TARGETS:
        rows = session.execute(
            text(f"SELECT {pk}, {column}, {binding} FROM {table}")  # noqa: S608 - fixed names
        )
        for row_id, stored, bound_to in rows:
            if stored is None:
                continue
            checked += 1
            try:
                decrypt_value(field, str(stored), row=None if bound_to is None else str(bound_to))
            except FieldIntegrityError as exc:
                problems.append(f"{exc} (id {row_id})")
    return checked, problems
