"""What customers type: resident ID numbers, cards, phones, login names, passwords."""

from __future__ import annotations

import pytest

from wangyin.errors import DomainError
from wangyin.identity import validators as v

# Worked GB 11643 example: 11010519491231002X has the check character X.
ID_WITH_X = "11010519491231002X"
ID_DIGIT = "110105198808080015"


def code_of(call, *args, **kwargs) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(DomainError) as info:
        call(*args, **kwargs)
    return info.value.code


def test_id_check_digit_worked_examples() -> None:
    assert v.id_check_digit(ID_WITH_X[:17]) == "X"
    assert v.id_check_digit("11010519880808001") == "5"
    assert v.normalize_id_number(ID_DIGIT) == ID_DIGIT


def test_id_number_x_is_accepted_in_either_case_and_trimmed() -> None:
    assert v.normalize_id_number(" " + ID_WITH_X.lower() + " ") == ID_WITH_X


@pytest.mark.parametrize(
    "raw",
    [
        "110105194912310021",  # wrong check digit (should be X)
        "11010519880808001X",  # X where a digit is due
        "11010519880808001",  # 17 characters
        "1101051988080800100",  # 19 characters
        "11010519880808001A",
        "",
    ],
)
def test_id_number_with_bad_shape_or_check_digit_is_refused(raw: str) -> None:
    assert code_of(v.normalize_id_number, raw) == "invalid_id_number"


@pytest.mark.parametrize("birth", ["19880230", "19881301", "18991231", "20250100"])
def test_id_number_with_impossible_birth_date_is_refused(birth: str) -> None:
    first17 = f"110105{birth}001"
    raw = first17 + v.id_check_digit(first17)  # the check digit itself is right
    assert code_of(v.normalize_id_number, raw) == "invalid_id_number"


def test_luhn() -> None:
    assert v.luhn_valid("4539578763621486")
    assert not v.luhn_valid("4539578763621487")
    assert not v.luhn_valid("4539-5787")
    partial = "622688123456789012"
    assert v.luhn_valid(partial + v.luhn_check_digit(partial))


def test_card_number_accepts_spaces_and_dashes_and_refuses_bad_check() -> None:
    good = "622688123456789012" + v.luhn_check_digit("622688123456789012")
    spaced = " ".join(good[i : i + 4] for i in range(0, len(good), 4))
    assert v.normalize_card_number(spaced) == good
    assert v.normalize_card_number(good[:4] + "-" + good[4:]) == good
    bad_last = str((int(good[-1]) + 1) % 10)
    assert code_of(v.normalize_card_number, good[:-1] + bad_last) == "invalid_card_number"
    assert code_of(v.normalize_card_number, "4539578763621") == "invalid_card_number"  # short


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("13812345678", "13812345678"),
        ("+86 138 1234 5678", "13812345678"),
        ("199-0000-1111", "19900001111"),
    ],
)
def test_mobile_accepted_forms(raw: str, normal: str) -> None:
    assert v.normalize_mobile(raw) == normal


@pytest.mark.parametrize("raw", ["12812345678", "1381234567", "138123456789", "abcdefghijk", ""])
def test_mobile_refused(raw: str) -> None:
    assert code_of(v.normalize_mobile, raw) == "invalid_mobile"


@pytest.mark.parametrize("raw", ["zhangwei", "Li_Na2026", "abcd", "a" * 32])
def test_username_accepted(raw: str) -> None:
    assert v.normalize_username(raw) == raw


@pytest.mark.parametrize(
    "raw", ["abc", "1abc", "_abcd", "a" * 33, "zhang wei", "张伟abcd", "ab-cd"]
)
def test_username_refused(raw: str) -> None:
    assert code_of(v.normalize_username, raw) == "invalid_username"


def weak_reason(password: str, **personal: str) -> str:
    with pytest.raises(DomainError) as info:
        v.check_password_policy(password, **personal)
    assert info.value.code == "weak_password"
    return str(info.value.params["reason"])


def test_password_policy_accepts_a_reasonable_password() -> None:
    v.check_password_policy(
        "Qiang-Mima-42", id_number=ID_DIGIT, mobile="13812345678", username="zhangwei"
    )


@pytest.mark.parametrize(
    ("password", "reason_word"),
    [
        ("Ab1!", "8"),  # short
        ("x" * 60 + "Ab1!x", "64"),  # long
        ("1234567890", "mix"),  # all digits
        ("abcdefghij", "mix"),  # letters only
        ("password1", "common"),
        ("Password1", "common"),  # case does not escape the list
    ],
)
def test_password_policy_refuses_weak_passwords(password: str, reason_word: str) -> None:
    assert reason_word in weak_reason(password)


@pytest.mark.parametrize(
    "password",
    [
        "ab" + ID_DIGIT,  # the whole ID number
        "Pw-19880808",  # birthday (YYYYMMDD)
        "Pw-880808x",  # birthday (YYMMDD)
        "Pw-080015x",  # last six of the ID
        "Pw-13812345678",  # phone
        "Pw-345678xy",  # last six of the phone
    ],
)
def test_password_policy_refuses_personal_data(password: str) -> None:
    reason = weak_reason(password, id_number=ID_DIGIT, mobile="13812345678", username="zhangwei")
    assert "ID, phone or birthday" in reason


def test_password_with_the_login_name_says_so() -> None:
    """Issue 9: the refusal names the login name, not the ID, phone or birthday."""
    reason = weak_reason(
        "ZhangWei-2026", id_number=ID_DIGIT, mobile="13812345678", username="zhangwei"
    )
    assert reason == "it contains your login name"
