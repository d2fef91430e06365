"""Mobile aliases and payment by mobile number.

Registering: a code texted to the customer's reserved mobile, bound to the account chosen
as the default, proves the phone is in the customer's hand; the alias then routes payments
to that account. Paying: the payer sees the masked name (张*伟) and the bank, and types the
surname or the given name; every look-up, found or not, is counted per payer
(`LOOKUPS_PER_HOUR`), decided in the transaction that answers it, since a mobile number that
answers with a name is an enumeration oracle.

A number that is no alias here is asked of the IBPS network (超级网银), which keeps the
aliases of other banks: it answers the masked name, the bank and a reference token, and
checks the name the payer types. The payment is then an inter-bank IBPS transfer naming
the token, which the network resolves to the account when it receives the item: the full
name and the account number never reach this bank or the payer. Those look-ups count
toward the same hourly limit.

The network is never asked inside a transaction: a slow or absent network must hold no
row lock, no pooled connection (and on SQLite not the write lock) while it takes its time.
A look-up that finds no alias here is counted and committed first (`AliasAtNetwork`); the
caller then asks the network (`ask_network`) and comes back with its answer (`asked`), or
gives the count back (`give_back_lookup`) when the network did not answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from wangyin.accounts.models import Account
from wangyin.aliases.models import MobileAlias
from wangyin.config import Settings
from wangyin.errors import DomainError
from wangyin.gateways import clearing as network
from wangyin.gateways.clearing.alias_directory import name_matches
from wangyin.identity import otp
from wangyin.identity.models import Customer, User
from wangyin.ids import new_public_id
from wangyin.money import format_grouped, parse_amount
from wangyin.observability import metrics
from wangyin.security import audit, ratelimit
from wangyin.security.audit import Client
from wangyin.security.fields import lookup_hash
from wangyin.security.masking import mask_account_number, mask_name

BANK_NAME = "网银城市商业银行"
LOOKUPS_PER_HOUR = 10
NETWORK_RETRY_SECONDS = 30  # Retry-After when the IBPS network does not answer
MOBILE_REMARK = "手机号转账"
_MOBILE = re.compile(r"1[3-9][0-9]{9}")


@dataclass(frozen=True)
class AliasView:
    id: str
    mobile: str  # masked, 138****5678
    account_id: str
    account_number: str  # masked
    created_at: datetime


@dataclass(frozen=True)
class MobilePayee:
    """What a payer is shown before paying a mobile number."""

    masked_name: str
    bank_name: str
    account_number: str  # masked; "" for an alias at another bank (the network keeps it)
    bank_code: str = ""  # another bank's 12-digit code; "" for this bank
    via: str = "bank"  # "bank": an alias here; "ibps": at another bank, through IBPS


@dataclass(frozen=True)
class NetworkPayee:
    """An alias at another bank, once the payer has confirmed the name: what the
    inter-bank transfer names instead of the account."""

    bank_code: str
    reference: str  # the network's token
    masked_name: str


@dataclass(frozen=True)
class NetworkAnswer:
    """What the IBPS network said of a mobile number, asked outside any transaction: its
    alias at another bank (None: no bank has it) and, when a name was typed, whether the
    network found that it matches."""

    alias: network.AliasAnswer | None
    name_ok: bool = False


def alias_at_network(customer_id: int) -> DomainError:
    """The number is no alias here: ask the network (for `customer_id`, whose look-up it
    is) and come again with its answer. The look-up's count commits with it (`keep`); no
    answer is stored under the request's key and no refusal is logged (it is not one)."""
    error = DomainError("alias_at_network", customer_id=customer_id)
    error.keep = True
    return error


class AliasNetworkDown(Exception):
    """The IBPS network did not answer (unreachable or too slow): nothing was asked of it
    that it answered, and nothing may be debited. Not a DomainError, so no idempotency
    record keeps it: the same request may be sent again once the network is back."""


def normalize_mobile(mobile: str) -> str:
    digits = "".join(mobile.split()).removeprefix("+86").replace("-", "")
    if not _MOBILE.fullmatch(digits):
        raise DomainError("invalid_mobile")
    return digits


def _mask_mobile(mobile: str) -> str:
    return f"{mobile[:3]}****{mobile[-4:]}"


def _own_account(s: Session, *, customer_id: int, account_id: str) -> Account:
    account = s.execute(
        select(Account).where(Account.public_id == account_id, Account.customer_id == customer_id)
    ).scalar_one_or_none()
    if account is None:
        raise DomainError("account_not_found")
    if account.status != "active" or account.currency != "CNY":
        raise DomainError("alias_account_unsuitable")
    return account


def current_alias(s: Session, *, customer_id: int) -> AliasView | None:
    found = s.execute(
        select(MobileAlias, Account, Customer)
        .join(Account, Account.id == MobileAlias.account_id)
        .join(Customer, Customer.id == MobileAlias.customer_id)
        .where(MobileAlias.customer_id == customer_id)
    ).first()
    if found is None:
        return None
    alias, account, customer = found
    return AliasView(
        id=alias.public_id,
        mobile=_mask_mobile(str(customer.mobile)),
        account_id=account.public_id,
        account_number=mask_account_number(account.account_number),
        created_at=alias.created_at,
    )


def send_alias_code(
    s: Session,
    *,
    user_id: int,
    customer_id: int,
    account_id: str,
    channel: str,
    at: datetime,
    settings: Settings,
    client: Client,
) -> None:
    """A code to the reserved mobile, bound to the account that will receive."""
    _own_account(s, customer_id=customer_id, account_id=account_id)
    otp.issue(
        s,
        user=s.get_one(User, user_id),
        purpose="alias",
        binding=account_id,
        channel=channel,
        at=at,
        settings=settings,
        client=client,
    )


def register_alias(
    s: Session,
    *,
    user_id: int,
    customer_id: int,
    actor: str,
    account_id: str,
    code: str,
    at: datetime,
    settings: Settings,
    client: Client,
) -> AliasView:
    """With the texted code, the reserved mobile routes payments to `account_id` (a new
    account replaces the earlier one)."""
    account = _own_account(s, customer_id=customer_id, account_id=account_id)
    otp.check(
        s,
        user_id=user_id,
        purpose="alias",
        binding=account_id,
        code=code,
        at=at,
        settings=settings,
        client=client,
    )
    customer = s.get_one(Customer, customer_id)
    alias = s.execute(
        select(MobileAlias).where(MobileAlias.customer_id == customer_id).with_for_update()
    ).scalar_one_or_none()
    if alias is None:
        taken = s.execute(
            select(MobileAlias.id).where(MobileAlias.mobile_hash == customer.mobile_hash)
        ).first()
        if taken is not None:
            raise DomainError("alias_taken")
        alias = MobileAlias(
            public_id=new_public_id(),
            customer_id=customer_id,
            mobile_hash=customer.mobile_hash,
            account_id=account.id,
            created_at=at,
        )
        s.add(alias)
    else:
        alias.account_id = account.id
        alias.mobile_hash = customer.mobile_hash  # the reserved mobile may have changed
    s.flush()
    audit.append(
        s,
        event="mobile_alias_registered",
        outcome="success",
        actor=actor,
        at=at,
        client=client,
        customer_id=customer_id,
        details={"account": mask_account_number(account.account_number)},
    )
    view = current_alias(s, customer_id=customer_id)
    assert view is not None  # noqa: S101 - just written
    return view


def remove_alias(s: Session, *, customer_id: int, actor: str, at: datetime, client: Client) -> None:
    alias = s.execute(
        select(MobileAlias).where(MobileAlias.customer_id == customer_id).with_for_update()
    ).scalar_one_or_none()
    if alias is None:
        raise DomainError("alias_not_found")
    s.delete(alias)
    audit.append(
        s,
        event="mobile_alias_removed",
        outcome="success",
        actor=actor,
        at=at,
        client=client,
        customer_id=customer_id,
        details={},
    )


def _count_lookup(s: Session, *, customer_id: int, at: datetime) -> None:
    ratelimit.hit(
        s,
        key=f"alias_lookup:{customer_id}",
        limit=LOOKUPS_PER_HOUR,
        window_seconds=3600,
        at=at,
    )


def _resolve(s: Session, mobile: str) -> tuple[Account, Customer] | None:
    found = s.execute(
        select(Account, Customer)
        .join(MobileAlias, MobileAlias.account_id == Account.id)
        .join(Customer, Customer.id == MobileAlias.customer_id)
        .where(MobileAlias.mobile_hash == lookup_hash(mobile), Account.status == "active")
    ).first()
    return None if found is None else (found[0], found[1])


def _ask(call: str, ask: Any) -> Any:
    """One call to the IBPS network, timed like its other calls."""
    try:
        with metrics.clearing_call(call):
            return ask()
    except (network.ClearingUnavailable, network.ClearingTimeout) as exc:
        raise AliasNetworkDown(type(exc).__name__) from None


def _kept(code: str) -> DomainError:
    error = DomainError(code)
    error.keep = True  # the count stands
    return error


def ask_network(
    gateway: network.ClearingGateway | None, mobile: str, *, name_check: str | None = None
) -> NetworkAnswer:
    """Ask the IBPS network for a number's alias (and, with `name_check`, whether the typed
    name matches it). Call it outside any transaction; raises AliasNetworkDown when the
    network does not answer."""
    if gateway is None:
        return NetworkAnswer(None)
    number = normalize_mobile(mobile)
    alias = _ask("alias_lookup", lambda: gateway.lookup_alias(number))
    if alias is None or name_check is None:
        return NetworkAnswer(alias)
    matches = _ask("alias_name", lambda: gateway.check_alias_name(alias.reference, name_check))
    return NetworkAnswer(alias, bool(matches))


def give_back_lookup(s: Session, *, customer_id: int, at: datetime) -> None:
    """The network did not answer: the look-up counted for it did not happen."""
    ratelimit.give_back(s, key=f"alias_lookup:{customer_id}", at=at)


def look_up(s: Session, *, customer_id: int, mobile: str, at: datetime) -> MobilePayee:
    """The masked name and bank of a mobile number's alias here, counted, found or not; a
    number that is no alias here is for the network (`alias_at_network`)."""
    _count_lookup(s, customer_id=customer_id, at=at)
    found = _resolve(s, normalize_mobile(mobile))
    if found is None:
        raise alias_at_network(customer_id)
    account, customer = found
    return MobilePayee(
        masked_name=mask_name(customer.name),
        bank_name=BANK_NAME,
        account_number=mask_account_number(account.account_number),
    )


def shown_from_network(asked: NetworkAnswer) -> MobilePayee:
    """What the payer is shown of an alias at another bank (already counted)."""
    if asked.alias is None:
        raise DomainError("alias_not_found")
    return MobilePayee(
        masked_name=asked.alias.masked_name,
        bank_name=asked.alias.bank_name,
        account_number="",
        bank_code=asked.alias.bank_code,
        via="ibps",
    )


def payee_for_transfer(
    s: Session,
    *,
    customer_id: int,
    mobile: str,
    name_check: str,
    at: datetime,
    asked: NetworkAnswer | None = None,
) -> tuple[str, str] | NetworkPayee:
    """(account number, full name) to prepare the transfer with, once the payer has
    confirmed part of the name; for an alias at another bank (`asked`: the network's
    answer), the network's token, once the network has checked the name. Counted like a
    look-up, once."""
    number = normalize_mobile(mobile)
    if asked is None:
        _count_lookup(s, customer_id=customer_id, at=at)
        found = _resolve(s, number)
        if found is None:
            raise alias_at_network(customer_id)
        if not name_matches(found[1].name, name_check):
            raise _kept("alias_name_mismatch")
        return found[0].account_number, found[1].name
    if asked.alias is None:
        raise _kept("alias_not_found")
    if not asked.name_ok:
        raise _kept("alias_name_mismatch")
    return NetworkPayee(
        bank_code=asked.alias.bank_code,
        reference=asked.alias.reference,
        masked_name=asked.alias.masked_name,
    )


def check_network_amount(*, amount: str, currency: str, ceiling_minor: int) -> None:
    """A payment to another bank's alias goes by IBPS in real time: CNY, within its
    per-item ceiling (a larger one is for the inter-bank form, by HVPS)."""
    if currency != "CNY":
        raise DomainError("interbank_cny_only")
    if parse_amount(amount, "CNY") > ceiling_minor:
        raise DomainError(
            "alias_over_ibps_ceiling", limit=f"{format_grouped(ceiling_minor, 'CNY')} CNY"
        )
