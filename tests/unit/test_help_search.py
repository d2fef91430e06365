"""The FAQ (5.2.1-d): its search reuses the function search's matcher (Chinese, pinyin,
initials, English, typos), the data is complete in both languages, and the figures the
answers quote are the ones the code enforces."""

from __future__ import annotations

import pytest

from wangyin.config import Settings
from wangyin.experience import service as function_search
from wangyin.experience.catalogue import BY_KEY as CATALOGUE
from wangyin.help import service
from wangyin.help.contextual import FORMS
from wangyin.help.faq import BY_KEY, QUESTIONS, TOPIC_KEYS, TOPICS


def _keys(query: str) -> list[str]:
    return [q.key for q in service.search(query=query)]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("收不到验证码", "faq_code"),  # Chinese
        ("shoubudao", "faq_code"),  # full pinyin
        ("sbdyzm", "faq_code"),  # initials of 收不到验证码
        ("SMS code", "faq_code"),  # English
        ("手续费", "faq_fees"),
        ("什么是u盾", "faq_usbkey_what"),
        ("u盾丢了", "faq_usbkey_lost"),
        ("guanaiban", "faq_care_on"),
        ("gab", "faq_care_on"),  # initials of 关爱版 (a keyword)
        ("limts", "faq_limits"),  # a typo
        ("forgot password", "faq_forgot"),
        ("scam", "faq_fraud_calls"),
        ("演示", "faq_demo"),
    ],
)
def test_finds_the_question(query: str, expected: str) -> None:
    assert _keys(query)[0] == expected


def test_only_questions_and_every_one_for_an_empty_query() -> None:
    assert all(key in BY_KEY for key in _keys("zz"))  # 转账 the function is not a question
    assert _keys("") == [q.key for q in QUESTIONS]
    assert _keys("qqqqqqqq") == []


def test_uses_the_function_search_matcher(monkeypatch: pytest.MonkeyPatch) -> None:
    """Imported, not copied: the FAQ answers what the function search answers."""
    monkeypatch.setattr(function_search, "search", lambda **_: [])
    assert service.search(query="验证码") == []


def test_the_function_search_finds_the_questions_too() -> None:
    """The catalogue's hook: every question is an entry of the search box on every page."""
    for q in QUESTIONS:
        entry = CATALOGUE[q.key]
        assert entry.kind == "faq" and entry.url == f"/help#{q.key}"
    hits = function_search.search(query="收不到验证码")
    assert hits[0].entry.key == "faq_code"


def test_the_data_is_complete_in_both_languages() -> None:
    assert len(QUESTIONS) >= 25
    assert len({q.key for q in QUESTIONS}) == len(QUESTIONS)
    for q in QUESTIONS:
        assert q.zh and q.en and q.answer_zh and q.answer_en and q.topic in TOPIC_KEYS
    assert {t.key for t in TOPICS} == {q.topic for q in QUESTIONS}  # no empty topic
    assert set(FORMS) == {"login", "register", "transfer", "security", "payees", "limits"}
    assert all(h.faq in BY_KEY for h in FORMS.values())


def test_the_answers_quote_the_figures_the_code_enforces() -> None:
    """A changed default (code lifetime, lock-out, limits) must change the answer too."""
    s = Settings()
    assert s.otp_valid_seconds == 60 and "60 秒" in BY_KEY["faq_code"].answer_zh
    assert s.otp_max_attempts == 3 and "3 次" in BY_KEY["faq_code_wrong"].answer_zh
    assert s.otp_daily_cap == 10 and "10 次" in BY_KEY["faq_code"].answer_zh
    assert s.login_max_failures == 5 and s.login_lock_minutes == 30
    assert "5 次" in BY_KEY["faq_locked"].answer_zh and "30 分钟" in BY_KEY["faq_locked"].answer_zh
    assert s.default_single_transfer_limit_minor == 50_000_00
    assert s.default_daily_transfer_limit_minor == 100_000_00
    assert (
        "50,000" in BY_KEY["faq_limits"].answer_en and "100,000" in BY_KEY["faq_limits"].answer_en
    )
    assert s.no_certificate_daily_max_minor == 50_000_00
    assert s.session_idle_minutes == 5 and "5 分钟" in BY_KEY["faq_timeout"].answer_zh
    assert s.password_history_count == 5 and "5 次" in BY_KEY["faq_forgot"].answer_zh
    assert s.password_free_single_max_minor == 1_000_00
    assert "1,000" in BY_KEY["faq_password_free"].answer_zh
