"""How sensitive values look wherever they are shown."""

from __future__ import annotations

import pytest

from wangyin.security.masking import (
    mask_account_number,
    mask_card,
    mask_id_number,
    mask_mobile,
    mask_name,
)


def test_id_number_shows_first_and_last_four() -> None:
    assert mask_id_number("450302198506121234") == "4503**********1234"
    assert mask_id_number("123") == "***"


def test_card_and_account_numbers_show_first_and_last_four() -> None:
    assert mask_card("6226881234567891234") == "6226 **** **** 1234"
    assert mask_account_number("6217001234567890123") == "6217 **** **** 0123"
    assert mask_card("1234567") == "*******"


def test_mobile_shows_first_three_and_last_four() -> None:
    assert mask_mobile("13812345678") == "138****5678"
    assert mask_mobile("+8613812345678") == "*" * 14


@pytest.mark.parametrize(
    ("name", "masked"),
    [
        ("张三丰", "张*丰"),
        ("李娜", "李*"),
        ("王", "王"),
        ("欧阳娜娜", "欧**娜"),
        ("John Smith", "J*** S****"),
        ("", ""),
    ],
)
def test_names(name: str, masked: str) -> None:
    assert mask_name(name) == masked


@pytest.mark.parametrize("value", ["450302198506121234", "6226881234567891234"])
def test_masked_forms_never_contain_the_middle_digits(value: str) -> None:
    middle = value[4:-4]
    for masked in (mask_id_number(value), mask_card(value)):
        assert middle not in masked.replace(" ", "")
