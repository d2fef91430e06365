"""The demo's sessions and its transfer walk-through (5.2.3-d).

Why a separate sample dataset and not a demo customer in the real tables: a demo session
here is not a session of `identity` at all. Its token is a signed note of its own
("demo1.<id>.<ends>.<mac>", HMAC-SHA256 under the app's secret key, with a purpose
prefix), so no route that resolves a customer ever accepts it, the sample data lives in
memory (demo/sample.py) and is never written, and nothing of the demo can reach the ledger
or a real customer. On top of that, `refuse_demo_writes` (an app-wide dependency) refuses
every unsafe request that carries a live demo token, except the demo's own steps, with
`demo_read_only`. Each visitor's typing travels only in their own form posts, so visitors
at the same time never see each other's. The only row the demo writes is the per-IP rate
limit counter of its start."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from wangyin.config import Settings
from wangyin.demo import errors as _errors  # noqa: F401 - registers the demo's error codes
from wangyin.demo import sample
from wangyin.errors import DomainError
from wangyin.money import format_grouped, parse_amount
from wangyin.security import ratelimit

TOKEN_PREFIX = "demo1"  # noqa: S105 - a format marker, not a secret
# A demo lasts this long from its start, then the visitor starts again (no renewal: the
# demo holds nothing to lose).
DEMO_MINUTES = 15
# Demo starts per IP address and window: enough for an office behind one address, too
# few to make the start a free write for a flood.
STARTS_PER_IP = 30
STARTS_WINDOW_SECONDS = 3600
# Unsafe requests a demo session may make: its own steps, none of which writes anything.
DEMO_WRITE_PATHS = frozenset(
    {
        "/demo/start",
        "/demo/transfer",
        "/demo/transfer/confirm",
        "/demo/exit",
        "/api/v1/demo/sessions",
        "/api/v1/demo/transfers",
    }
)
_PURPOSE = b"wangyin demo session v1|"


@dataclass(frozen=True)
class DemoSession:
    id: str
    ends_at: datetime


def _mac(settings: Settings, body: str) -> str:
    key = hashlib.sha256(_PURPOSE + settings.secret_key.encode()).digest()
    return hmac.new(key, body.encode(), hashlib.sha256).hexdigest()[:32]


def new_token(*, settings: Settings, at: datetime) -> tuple[str, DemoSession]:
    ends = int((at + timedelta(minutes=DEMO_MINUTES)).timestamp())
    body = f"{TOKEN_PREFIX}.{secrets.token_hex(8)}.{ends}"
    demo = DemoSession(body.split(".")[1], datetime.fromtimestamp(ends, UTC))
    return f"{body}.{_mac(settings, body)}", demo


def looks_like_demo(token: str) -> bool:
    return token.startswith(TOKEN_PREFIX + ".")


def resolve(*, token: str, settings: Settings, at: datetime) -> DemoSession | None:
    """The live demo session a token names, or None (not a demo token, forged, ended)."""
    if not looks_like_demo(token) or len(token) > 100:
        return None
    body, _, mac = token.rpartition(".")
    parts = body.split(".")
    if len(parts) != 3 or not parts[2].isdigit():
        return None
    if not hmac.compare_digest(mac, _mac(settings, body)):
        return None
    ends_at = datetime.fromtimestamp(int(parts[2]), UTC)
    if ends_at <= at:
        return None
    return DemoSession(parts[1], ends_at)


def count_start(session: Session, *, ip: str, at: datetime, settings: Settings) -> None:
    """One demo start from this IP (rate_limited past STARTS_PER_IP in the window)."""
    if not settings.ratelimit_enabled:
        return
    ratelimit.hit(
        session,
        key=f"ip:demo:{ip}",
        limit=STARTS_PER_IP,
        window_seconds=STARTS_WINDOW_SECONDS,
        at=at,
    )


@dataclass(frozen=True)
class DemoTransfer:
    """What the confirm page shows: checked like a real transfer, never sent anywhere."""

    from_account: sample.SampleAccount
    payee_name: str
    payee_account: str
    amount_minor: int
    remark: str


def review_transfer(
    *, from_account: str, payee_name: str, payee_account: str, amount: str, remark: str = ""
) -> DemoTransfer:
    """The transfer form's checks on the sample data; DomainError names what is wrong."""
    account = sample.BY_KEY.get(from_account)
    if account is None:
        raise DomainError("validation_error")
    name = payee_name.strip()
    if not name or len(name) > 50:
        raise DomainError("payee_name_required")
    number = "".join(payee_account.split())
    if not number.isdigit() or not 12 <= len(number) <= 19:
        raise DomainError("payee_account_invalid")
    minor = parse_amount(amount.strip(), account.currency)
    if minor > sample.DEMO_SINGLE_LIMIT_MINOR:
        raise DomainError(
            "over_single_limit", limit=format_grouped(sample.DEMO_SINGLE_LIMIT_MINOR, "CNY")
        )
    if minor > account.balance_minor:
        raise DomainError("insufficient_funds")
    return DemoTransfer(account, name, number, minor, remark.strip()[:50])
