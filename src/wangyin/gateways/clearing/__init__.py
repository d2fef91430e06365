"""The clearing network (CNAPS: HVPS 大额, BEPS 小额, IBPS 超级网银) as the bank sees it:
send an item, ask for its status, read a day's statement. `simulator.CnapsSimulator` is
the implementation for the demo and the tests; a real front-end processor plugs in here.

Exactly once: an item carries our transfer's id as its message id, and the network keeps
one item per message id. A send whose answer is lost (`ClearingTimeout`) is resolved by
`status()`, never by sending again blindly; `ClearingUnavailable` means the network was not
reached at all.

Mobile aliases at other banks (IBPS, 超级网银): `lookup_alias` answers a mobile number with
the masked name, the bank and a reference token; `check_alias_name` checks the surname or
given name the payer typed; an item then names the token as its account, and the network
resolves it to the account when it receives the item. The bank never learns the full name
or the account number.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Protocol

# The network's business statuses (payment-systems.md), and ours for an item taken.
ACCEPTED = "PR00"
NETTED = "PR03"
SETTLED = "PR04"
REJECTED = "PR09"
RETURNED = "RT00"  # 退汇: the receiving bank sent the money back after success
RECALLED = "recalled"  # the reason of an item returned on our request (recall)
SYSTEMS = ("HVPS", "BEPS", "IBPS")


class ClearingTimeout(Exception):
    """No answer in time: the network may or may not have the item."""


class ClearingUnavailable(Exception):
    """The network was not reached: it does not have the item."""


@dataclass(frozen=True)
class Item:
    msg_id: str
    system: str
    bank_code: str
    account: str
    payee_name: str
    amount_minor: int


@dataclass(frozen=True)
class Answer:
    msg_id: str
    status: str  # one of the PR codes above
    reason: str = ""
    at: datetime | None = None


@dataclass(frozen=True)
class RecallAnswer:
    """The receiving bank's answer to our refund request (退汇申请) of an item."""

    msg_id: str
    agreed: bool  # it returns the item: its status becomes RETURNED (RT00)
    reason: str = ""  # why it refused: unknown_item, not_settled, already_returned, ...


@dataclass(frozen=True)
class StatementLine:
    msg_id: str
    amount_minor: int
    status: str


@dataclass(frozen=True)
class AliasAnswer:
    """A mobile alias registered at another bank, as the network shows it to a payer."""

    masked_name: str  # 张*伟
    bank_code: str  # the receiving bank's 12-digit code
    bank_name: str  # 招商银行
    reference: str  # the network's token: the item's account, resolved by the network


class ClearingGateway(Protocol):
    def send(self, item: Item) -> Answer: ...

    def status(self, msg_id: str) -> Answer | None:
        """The network's status of an item; None if it never received it."""
        ...

    def statement(self, system: str, day: date) -> Path | None:
        """The day's statement file of a system (None until the day is closed)."""
        ...

    def recall(self, msg_id: str, reason: str) -> RecallAnswer:
        """Ask the receiving bank to send a settled item back (退汇申请). Agreed: the item's
        status becomes RETURNED (reason `recalled`), which `status()` then answers, so the
        clearing worker books the return once; asking again for an item it returned on
        our request agrees again."""
        ...

    def tick(self, now: datetime) -> None:
        """Let the network's own time pass (the simulator nets, settles and returns)."""
        ...

    def lookup_alias(self, mobile: str) -> AliasAnswer | None:
        """The alias of a mobile number at another bank; None if no bank has it."""
        ...

    def check_alias_name(self, reference: str, name: str) -> bool:
        """Whether `name` is the surname, the given name or the full name behind a token."""
        ...


def read_statement(path: Path) -> list[StatementLine]:
    """A statement file: one `msg_id,amount_minor,status` line per item, after a header."""
    lines = path.read_text(encoding="utf-8").splitlines()[1:]
    out = []
    for line in lines:
        msg_id, amount, status = line.split(",")
        out.append(StatementLine(msg_id, int(amount), status))
    return out
