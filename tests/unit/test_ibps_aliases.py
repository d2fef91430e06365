"""Aliases at other banks (IBPS): the masked name the payer sees, the name check, and the
network's reference token (it travels where an account number does, resolves only to its
alias, under its alias's key, before its expiry)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from wangyin.accounts.service import CARD_BIN
from wangyin.aliases import service as aliases
from wangyin.errors import DomainError
from wangyin.gateways.clearing import alias_directory as directory
from wangyin.gateways.clearing.alias_directory import SimulatedAlias

NOW = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)


def _alias(alias_id: int = 7, key: str = "a" * 64) -> SimulatedAlias:
    return SimulatedAlias(
        id=alias_id,
        mobile_hash="h",
        bank_code="308584000013",
        account="6225880000001111",
        name="张大伟",
        token_key=key,
        created_at=NOW,
    )


class _Book:
    """Stands in for the simulator's session: one alias by id."""

    def __init__(self, alias: SimulatedAlias) -> None:
        self.alias = alias

    def get(self, _model: Any, alias_id: int) -> SimulatedAlias | None:
        return self.alias if alias_id == self.alias.id else None


def test_the_payer_sees_the_name_masked() -> None:
    assert directory.masked(_alias()) == "张*伟"
    two = _alias()
    two.name = "王芳"
    assert directory.masked(two) == "王*"
    four = _alias()
    four.name = "欧阳明月"
    assert directory.masked(four) == "欧**月"


def test_the_name_check_takes_the_surname_or_the_given_name() -> None:
    assert directory.name_matches("张大伟", "张")
    assert directory.name_matches("张大伟", "大伟")
    assert directory.name_matches("张大伟", " 张大伟 ")
    assert not directory.name_matches("张大伟", "大")
    assert not directory.name_matches("张大伟", "王")
    assert not directory.name_matches("张大伟", "")
    assert directory.name_matches("欧阳明月", "欧阳")  # a two-character surname
    assert directory.name_matches("欧阳明月", "明月")
    assert aliases.name_matches is directory.name_matches  # one rule for both banks


def test_a_token_looks_like_an_account_number_but_is_none_of_ours() -> None:
    token = directory.make_token(_alias(), now=NOW)
    assert len(token) == 34 and token.isdigit() and directory.is_token(token)
    assert not token.startswith(CARD_BIN)
    assert "6225880000001111" not in token  # the account is not in it
    assert not directory.is_token("6225880000001111")


def test_a_token_resolves_to_its_alias_until_it_expires() -> None:
    alias = _alias()
    token = directory.make_token(alias, now=NOW)
    found = directory.resolve_token(_Book(alias), token, now=NOW + timedelta(hours=23))  # type: ignore[arg-type]
    assert found is not None
    assert (found.bank_code, found.account, found.name) == (
        "308584000013",
        "6225880000001111",
        "张大伟",
    )
    late = NOW + directory.TOKEN_VALID + timedelta(minutes=1)
    assert directory.resolve_token(_Book(alias), token, now=late) is None  # type: ignore[arg-type]


def test_a_forged_or_rekeyed_token_resolves_to_nothing() -> None:
    alias = _alias()
    token = directory.make_token(alias, now=NOW)
    book: Any = _Book(alias)
    forged = token[:-1] + str((int(token[-1]) + 1) % 10)
    assert directory.resolve_token(book, forged, now=NOW) is None
    # Another alias's row number under this token's signature.
    other = token[:2] + f"{alias.id + 1:08d}" + token[10:]
    assert directory.resolve_token(_Book(_alias(alias.id + 1)), other, now=NOW) is None  # type: ignore[arg-type]
    # A later expiry typed in breaks the signature.
    stretched = token[:10] + f"{int(token[10:18]) + 60:08d}" + token[18:]
    assert directory.resolve_token(book, stretched, now=NOW) is None
    # The alias re-registered (a new key): old tokens stop resolving.
    assert directory.resolve_token(_Book(_alias(key="b" * 64)), token, now=NOW) is None  # type: ignore[arg-type]


def test_a_payment_to_another_banks_alias_is_cny_within_the_ibps_ceiling() -> None:
    aliases.check_network_amount(amount="50000.00", currency="CNY", ceiling_minor=5_000_000)
    with pytest.raises(DomainError) as over:
        aliases.check_network_amount(amount="50000.01", currency="CNY", ceiling_minor=5_000_000)
    assert over.value.code == "alias_over_ibps_ceiling"
    assert over.value.params["limit"] == "50,000.00 CNY"
    with pytest.raises(DomainError) as usd:
        aliases.check_network_amount(amount="1.00", currency="USD", ceiling_minor=5_000_000)
    assert usd.value.code == "interbank_cny_only"
