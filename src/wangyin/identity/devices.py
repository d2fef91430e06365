"""Bound devices (4.3.2-c): recognised by a secret the bank issued, never by a name.

A device used to count as bound when it sent a device id the bank had seen before: any
client that learned the id (the security log showed it, the browser's cookie held it)
skipped the new-device step (issue 11 #7). Now binding - the login code and the ID number
from a new device - issues a device credential:

    wyd1.<device public id>.<secret>      (secret: 32 random bytes, base64url)

The bank keeps only a keyed hash of it (HMAC-SHA256 under the keyring's look-up key, with
that key's id, so `wangyin keys rotate` leaves it verifying), gives it to the browser as
the HttpOnly `wy_device` cookie and to an app in the login answer (`device_credential`,
sent back as `X-Device-Credential`), and replaces it at every login it opens: a copy
taken before is spent as soon as the device logs in again, and a copy used first leaves
the real device with the new-device step, which the customer notices. Logs, the device
list and the login history name a device by its public id and label only.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime

import iptocc
from babel import Locale
from sqlalchemy import select
from sqlalchemy.orm import Session
from ua_parser import parse as parse_user_agent

from wangyin.i18n import gettext
from wangyin.identity.models import Device
from wangyin.ids import new_public_id
from wangyin.security.crypto import constant_time_equal, keyed_hash
from wangyin.security.keys import KeyringError, load_keyring

PREFIX = "wyd1"
SECRET_BYTES = 32  # 256 bits
# What the HMAC covers besides the credential: these hashes mean nothing as any other
# look-up hash, and no other look-up hash means anything here.
_DOMAIN = b"wangyin device credential v1\x00"
_SHAPE = re.compile(
    r"wyd1\.([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.[A-Za-z0-9_-]{43}"
)
MAX_LENGTH = 100


def public_id_of(credential: str) -> str | None:
    """The device's public id inside a well-formed credential (None: not one of ours)."""
    if len(credential) > MAX_LENGTH:
        return None
    found = _SHAPE.fullmatch(credential)
    return found.group(1) if found else None


def _hash(credential: str, key_id: str | None = None) -> str:
    ring = load_keyring()
    key_id = key_id or ring.lookup.active
    return f"{key_id}:{keyed_hash(ring.lookup.key(key_id), _DOMAIN + credential.encode())}"


def _matches(stored: str | None, credential: str) -> bool:
    if not stored or ":" not in stored:
        return False
    key_id = stored.partition(":")[0]
    try:
        expected = _hash(credential, key_id)
    except KeyringError:
        return False
    return constant_time_equal(expected, stored)


def issue(device: Device) -> str:
    """A new credential for the device (the one before stops counting); only its hash is
    stored."""
    credential = f"{PREFIX}.{device.public_id}.{secrets.token_urlsafe(SECRET_BYTES)}"
    device.credential_hash = _hash(credential)
    return credential


def bind(
    session: Session, *, user_id: int, name: str, label: str, at: datetime
) -> tuple[Device, str]:
    """Bind a new device (the caller has checked the code and the ID number): the device
    and its first credential, to hand to it once."""
    device = Device(
        public_id=new_public_id(),
        user_id=user_id,
        device_id=name[:80],
        label=label[:120],
        bound_at=at,
        last_seen_at=at,
    )
    credential = issue(device)
    session.add(device)
    session.flush()
    return device, credential


def verified(session: Session, *, user_id: int, credential: str) -> Device | None:
    """The user's bound device whose current credential this is, or None (no credential,
    a malformed one, another user's, a removed device's, or one replaced since). The
    caller holds the user row's lock, so two logins with one credential take turns and
    the second finds it replaced."""
    public_id = public_id_of(credential) if credential else None
    if public_id is None:
        return None
    device = session.scalars(
        select(Device)
        .where(Device.public_id == public_id)
        .execution_options(populate_existing=True)
    ).first()
    if device is None or device.user_id != user_id or device.removed_at is not None:
        return None
    return device if _matches(device.credential_hash, credential) else None


def active(session: Session, *, device_id: int | None, user_id: int) -> Device | None:
    """A bound device by its row id, if it still is the user's and not removed."""
    if device_id is None:
        return None
    device = session.get(Device, device_id, populate_existing=True)
    if device is None or device.user_id != user_id or device.removed_at is not None:
        return None
    return device


def remove(device: Device, *, at: datetime) -> None:
    device.removed_at = at
    device.credential_hash = None


# --- how the device list names a device and where it was used (issue 9) ----------------


@dataclass(frozen=True)
class Described:
    name: str  # "Chrome on Windows", in the customer's language
    channel: str  # "web" | "app"


def describe(user_agent: str, *, client_type: str, os_version: str, lang: str) -> Described:
    """A device as its owner knows it - browser and system from the User-Agent (ua-parser's
    maintained rules), else the system an app reported - never the raw header."""
    parsed = parse_user_agent(user_agent) if user_agent else None
    browser = parsed.user_agent.family if parsed and parsed.user_agent else ""
    system = parsed.os.family if parsed and parsed.os else ""
    channel = "web" if client_type == "web" else "app"
    if browser and browser != "Other" and system and system != "Other":
        name = gettext("{browser} on {system}", lang, browser=browser, system=system)
    elif os_version or (browser and browser != "Other"):
        name = os_version or browser  # an app names its system itself
    else:
        name = gettext("Unknown device", lang)
    return Described(name=name, channel=channel)


def split_label(label: str) -> tuple[str, str, str]:
    """The client type, system and User-Agent a device was bound with (its label is
    `Client.describe()`: "web | Windows NT 10.0 | Mozilla/5.0 ...")."""
    parts = label.split(" | ", 2)
    while len(parts) < 3:
        parts.append("")
    return parts[0], parts[1], parts[2]


def place_of(ip: str, lang: str) -> str | None:
    """The country an IP address was allocated to, from iptocc's offline copy of the
    regional internet registries' data (no look-up leaves the bank); None when unknown
    (private and loopback addresses, unallocated blocks)."""
    if not ip:
        return None
    try:
        code = iptocc.country_code(ip)
    except ValueError:
        return None
    if not code:
        return None
    names = Locale.parse("zh_Hans_CN" if lang == "zh" else "en").territories
    return str(names.get(code, code))
