"""Keys kept outside the database (4.1.2.1-f, 4.1.6-c, 4.1.4-d/e).

A keyring holds, each as numbered versions of which one is active (older versions stay,
so that values made under them can still be read or checked):

- data keys (`keys`, ids k1, k2, …) for the encrypted columns, AES-GCM or SM4-GCM
  (`algorithm`);
- look-up keys (`lookup`, l1, l2, …): HMAC-SHA256 of ID, mobile and card numbers, the
  hash columns rows are found by;
- audit keys (`audit`, a1, …): HMAC-SM3 of every audit record in its chain, and of the
  checkpoint file that anchors the chains' heads outside the database;
- pepper keys (`pepper`, p1, …): HMAC-SM3 of a password or transaction PIN before Argon2,
  so that a copy of the database alone cannot be used to guess a six-digit PIN offline.

It is read from `WANGYIN_KEY_FILE` (JSON) or `WANGYIN_KEYRING` (the same JSON inline). In
dev, a key file is created under var/ on first use; production refuses to run without one.

Key file format:
    {"active": "k2", "algorithm": "AES-GCM",
     "keys": {"k1": "<base64>", "k2": "<base64>"},
     "lookup_key": "<base64: the active look-up key, for readers of the first format>",
     "lookup": {"active": "l2", "keys": {"l1": "<base64>", "l2": "<base64>"}},
     "audit": {"active": "a1", "keys": {"a1": "<base64>"}},
     "pepper": {"active": "p1", "keys": {"p1": "<base64>"}}}

A key file of the first format (`lookup_key` only) still loads: its look-up key is l1,
and its first audit and pepper keys are derived from that key with HKDF (a distinct label
for each), so they are exactly as secret and need no change to the file. `wangyin keys
rotate` writes every purpose out in full, with fresh random versions.
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from wangyin.security.crypto import Aead, hkdf

DEV_KEY_FILE = Path("var") / "keys.json"
SECRET_BYTES = 32
_KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,16}$")
# (purpose, id prefix): the HMAC purposes besides the data keys.
PURPOSES = (("lookup", "l"), ("audit", "a"), ("pepper", "p"))


class KeyringError(Exception):
    pass


@dataclass(frozen=True)
class KeySet:
    """Numbered versions of one secret; `active` makes new values, every version checks."""

    active: str
    keys: dict[str, bytes] = field(default_factory=dict)

    def key(self, key_id: str) -> bytes:
        try:
            return self.keys[key_id]
        except KeyError:
            raise KeyringError(f"key {key_id!r} is not in the keyring") from None

    @property
    def active_key(self) -> bytes:
        return self.key(self.active)

    def with_new_version(self, prefix: str) -> KeySet:
        new_id = f"{prefix}{_next_number(self.keys, prefix)}"
        return KeySet(active=new_id, keys={**self.keys, new_id: secrets.token_bytes(32)})

    def to_json(self) -> dict[str, Any]:
        return {
            "active": self.active,
            "keys": {k: base64.b64encode(v).decode() for k, v in self.keys.items()},
        }


@dataclass(frozen=True)
class Keyring:
    active: str
    algorithm: Aead
    keys: dict[str, bytes]
    lookup: KeySet
    audit: KeySet
    pepper: KeySet

    def key(self, key_id: str) -> bytes:
        try:
            return self.keys[key_id]
        except KeyError:
            raise KeyringError(f"data key {key_id!r} is not in the keyring") from None

    @property
    def active_key(self) -> bytes:
        return self.key(self.active)

    @property
    def lookup_key(self) -> bytes:
        """The active look-up key (HMAC-SHA256 of the values rows are found by)."""
        return self.lookup.active_key

    def to_json(self) -> str:
        return json.dumps(
            {
                "active": self.active,
                "algorithm": self.algorithm,
                "keys": {k: base64.b64encode(v).decode() for k, v in self.keys.items()},
                "lookup_key": base64.b64encode(self.lookup_key).decode(),
                "lookup": self.lookup.to_json(),
                "audit": self.audit.to_json(),
                "pepper": self.pepper.to_json(),
            },
            indent=2,
        )

    def with_new_key(self) -> Keyring:
        """A keyring whose new active data key is fresh; the old ones stay for reading."""
        new_id = f"k{_next_number(self.keys, 'k')}"
        return Keyring(
            active=new_id,
            algorithm=self.algorithm,
            keys={**self.keys, new_id: new_data_key(self.algorithm)},
            lookup=self.lookup,
            audit=self.audit,
            pepper=self.pepper,
        )

    def rotated(self) -> Keyring:
        """`keys rotate`: a new version of every key (data, look-up, audit, pepper), the
        old versions kept."""
        ring = self.with_new_key()
        return Keyring(
            active=ring.active,
            algorithm=ring.algorithm,
            keys=ring.keys,
            lookup=self.lookup.with_new_version("l"),
            audit=self.audit.with_new_version("a"),
            pepper=self.pepper.with_new_version("p"),
        )


def _next_number(keys: dict[str, bytes], prefix: str) -> int:
    numbers = [int(k[len(prefix) :]) for k in keys if k[len(prefix) :].isdigit()]
    return 1 + max(numbers, default=0)


def new_data_key(algorithm: Aead) -> bytes:
    return secrets.token_bytes(16 if algorithm == "SM4-GCM" else 32)


def _derived(base: bytes, purpose: str, prefix: str) -> KeySet:
    key_id = f"{prefix}1"
    secret = hkdf(base, info=f"wangyin keyring|{purpose}|{key_id}".encode(), length=32)
    return KeySet(active=key_id, keys={key_id: secret})


def _key_set(raw: Any, purpose: str) -> KeySet:
    if not isinstance(raw, dict):
        raise KeyringError(f"the keyring's {purpose!r} entry is malformed")
    keys = {str(k): base64.b64decode(v) for k, v in cast(dict[str, str], raw["keys"]).items()}
    ring = KeySet(active=str(raw["active"]), keys=keys)
    ring.active_key  # noqa: B018 - fails early when the active key is missing
    return ring


def parse_keyring(text: str) -> Keyring:
    try:
        raw = cast(dict[str, Any], json.loads(text))
        algorithm = raw.get("algorithm", "AES-GCM")
        if algorithm not in ("AES-GCM", "SM4-GCM"):
            raise KeyringError(f"unknown algorithm {algorithm!r}")
        keys = {str(k): base64.b64decode(v) for k, v in raw["keys"].items()}
        if "lookup" in raw:
            lookup = _key_set(raw["lookup"], "lookup")
        else:
            lookup = KeySet(active="l1", keys={"l1": base64.b64decode(raw["lookup_key"])})
        base = lookup.keys.get("l1", lookup.active_key)
        sets = {
            purpose: _key_set(raw[purpose], purpose)
            if purpose in raw
            else _derived(base, purpose, prefix)
            for purpose, prefix in PURPOSES
            if purpose != "lookup"
        }
        ring = Keyring(
            active=str(raw["active"]),
            algorithm=algorithm,
            keys=keys,
            lookup=lookup,
            audit=sets["audit"],
            pepper=sets["pepper"],
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise KeyringError(f"the keyring is malformed: {exc}") from None
    ring.active_key  # noqa: B018 - fails early when the active key is missing
    for purpose, keyset in (
        ("data", ring.keys),
        *((p, getattr(ring, p).keys) for p, _ in PURPOSES),
    ):
        for key_id, secret in keyset.items():
            if not _KEY_ID.match(key_id):
                raise KeyringError(
                    f"the {purpose} key id {key_id!r} is not 1-16 of A-Z a-z 0-9 _ -"
                )
            if purpose != "data" and len(secret) < SECRET_BYTES:
                raise KeyringError(f"the {purpose} key {key_id!r} must be at least 256 bits")
    return ring


def new_keyring(algorithm: Aead = "AES-GCM") -> Keyring:
    return Keyring(
        active="k1",
        algorithm=algorithm,
        keys={"k1": new_data_key(algorithm)},
        lookup=KeySet(active="l1", keys={"l1": secrets.token_bytes(32)}),
        audit=KeySet(active="a1", keys={"a1": secrets.token_bytes(32)}),
        pepper=KeySet(active="p1", keys={"p1": secrets.token_bytes(32)}),
    )


_lock = threading.Lock()
_current: Keyring | None = None


def load_keyring(*, env: str | None = None) -> Keyring:
    """The process keyring: from the environment, a key file, or (dev only) a new file."""
    global _current
    with _lock:
        if _current is not None:
            return _current
        inline = os.environ.get("WANGYIN_KEYRING")
        path = os.environ.get("WANGYIN_KEY_FILE")
        env = env or os.environ.get("WANGYIN_ENV", "dev")
        if inline:
            _current = parse_keyring(inline)
        elif path:
            _current = parse_keyring(Path(path).read_text())
        elif env == "prod":
            raise KeyringError("production needs WANGYIN_KEY_FILE or WANGYIN_KEYRING")
        else:
            _current = _dev_keyring()
        return _current


def _dev_keyring() -> Keyring:
    if DEV_KEY_FILE.exists():
        return parse_keyring(DEV_KEY_FILE.read_text())
    ring = new_keyring()
    DEV_KEY_FILE.parent.mkdir(parents=True, exist_ok=True)
    # Written whole to a private temporary file, then linked into place: two processes
    # starting at once agree on one keyring (the loser reads the winner's file).
    tmp = DEV_KEY_FILE.with_name(f".keys.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(ring.to_json())
    try:
        os.link(tmp, DEV_KEY_FILE)
    except FileExistsError:
        return parse_keyring(DEV_KEY_FILE.read_text())
    finally:
        tmp.unlink()
    return ring


def use_keyring(ring: Keyring | None) -> None:
    """Install a keyring for this process (tests, `keys rotate`); None forgets it."""
    global _current
    with _lock:
        _current = ring
