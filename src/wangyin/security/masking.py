"""How sensitive values look wherever they are shown (4.1.6-e)."""

from __future__ import annotations


def mask_id_number(value: str) -> str:
    """4503**********1234"""
    if len(value) < 8:
        return "*" * len(value)
    return value[:4] + "*" * (len(value) - 8) + value[-4:]


def mask_card(value: str) -> str:
    """6226 **** **** 1234"""
    if len(value) < 8:
        return "*" * len(value)
    return f"{value[:4]} **** **** {value[-4:]}"


def mask_account_number(value: str) -> str:
    """Account numbers show like cards: first four and last four."""
    return mask_card(value)


def mask_mobile(value: str) -> str:
    """138****5678"""
    if len(value) != 11:
        return "*" * len(value)
    return value[:3] + "****" + value[-4:]


def mask_name(value: str) -> str:
    """张*三, 李*, J*** S**** — enough to recognise a payee, not to learn a stranger's name."""
    if not value:
        return value
    if " " in value.strip():
        return " ".join(part[0] + "*" * (len(part) - 1) for part in value.split() if part)
    if len(value) == 1:
        return value
    if len(value) == 2:
        return value[0] + "*"
    return value[0] + "*" * (len(value) - 2) + value[-1]
