"""Keys for data at rest, kept outside the database (4.1.2.1-f, 4.1.6-c).

A keyring holds numbered data keys (one active, older ones kept to read old values),
a lookup key for the keyed-hash columns, and the algorithm (AES-GCM or SM4-GCM). It is
read from `WANGYIN_KEY_FILE` (JSON) or `WANGYIN_KEYRING` (the same JSON inline). In dev,
a key file is created under var/ on first use; production refuses to run without one.

Key file format:
    {"active": "k2", "algorithm": "AES-GCM", "lookup_key": "<base64>",
     "keys": {"k1": "<base64>", "k2": "<base64>"}}
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from wangyin.security.crypto import Aead

DEV_KEY_FILE = Path("var") / "keys.json"


class KeyringError(Exception):
    pass


@dataclass(frozen=True)
class Keyring:
    active: str
    algorithm: Aead
    keys: dict[str, bytes]
    lookup_key: bytes

    def key(self, key_id: str) -> bytes:
        try:
            return self.keys[key_id]
        except KeyError:
            raise KeyringError(f"data key {key_id!r} is not in the keyring") from None

    @property
    def active_key(self) -> bytes:
        return self.key(self.active)

    def to_json(self) -> str:
        return json.dumps(
            {
                "active": self.active,
                "algorithm": self.algorithm,
                "lookup_key": base64.b64encode(self.lookup_key).decode(),
                "keys": {k: base64.b64encode(v).decode() for k, v in self.keys.items()},
            },
            indent=2,
        )

    def with_new_key(self) -> Keyring:
        """A keyring whose new active key is fresh; the old ones stay for reading."""
        number = 1 + max(int(k.lstrip("k") or 0) for k in self.keys)
        new_id = f"k{number}"
        return Keyring(
            active=new_id,
            algorithm=self.algorithm,
            keys={**self.keys, new_id: new_data_key(self.algorithm)},
            lookup_key=self.lookup_key,
        )


def new_data_key(algorithm: Aead) -> bytes:
    return secrets.token_bytes(16 if algorithm == "SM4-GCM" else 32)


def parse_keyring(text: str) -> Keyring:
    try:
        raw = cast(dict[str, Any], json.loads(text))
        algorithm = raw.get("algorithm", "AES-GCM")
        if algorithm not in ("AES-GCM", "SM4-GCM"):
            raise KeyringError(f"unknown algorithm {algorithm!r}")
        keys = {str(k): base64.b64decode(v) for k, v in raw["keys"].items()}
        ring = Keyring(
            active=str(raw["active"]),
            algorithm=algorithm,
            keys=keys,
            lookup_key=base64.b64decode(raw["lookup_key"]),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise KeyringError(f"the keyring is malformed: {exc}") from None
    ring.active_key  # noqa: B018 - fails early when the active key is missing
    if len(ring.lookup_key) < 32:
        raise KeyringError("the lookup key must be at least 256 bits")
    return ring


def new_keyring(algorithm: Aead = "AES-GCM") -> Keyring:
    return Keyring(
        active="k1",
        algorithm=algorithm,
        keys={"k1": new_data_key(algorithm)},
        lookup_key=secrets.token_bytes(32),
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
