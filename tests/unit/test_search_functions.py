"""The function search (5.2.3-a/b): Chinese, pinyin, initials, English, typos."""

from __future__ import annotations

import pytest

from wangyin.experience.catalogue import FUNCTIONS
from wangyin.experience.service import search


def _top(query: str) -> str:
    return search(query=query)[0].entry.zh


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("zz", "转账"),
        ("mm", "修改密码"),
        ("转账", "转账"),
        ("zhuanzhang", "转账"),
        ("xgmm", "修改密码"),
        ("Transfer", "转账"),
        ("tranfser", "转账"),  # a typo
        ("gaunaiban", "关爱版"),  # a typo in pinyin
        ("余额", "我的账户"),
        ("care mode", "关爱版"),
    ],
)
def test_finds_the_function(query: str, expected: str) -> None:
    assert _top(query) == expected


def test_faq_entries_are_found() -> None:
    assert any(hit.entry.kind == "faq" for hit in search(query="验证码"))


def test_nothing_for_nonsense_or_empty() -> None:
    assert search(query="qqqqqqqq") == []
    assert search(query="   ") == []


def test_the_catalogue_is_complete_data() -> None:
    keys = [e.key for e in FUNCTIONS]
    assert len(keys) == len(set(keys))
    for e in FUNCTIONS:
        assert e.zh and e.en and e.url.startswith("/")
        if e.kind == "faq":
            assert e.answer_zh and e.answer_en
