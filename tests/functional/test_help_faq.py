"""The FAQ over HTTP (5.2.1-d): the JSON API, the /help page (searchable with a GET query,
no script, grouped by topic, zh and en), and the contextual help on the forms."""

from __future__ import annotations

from functional.conftest import Bank
from wangyin.help.faq import QUESTIONS, TOPICS


def test_the_json_faq(bank: Bank) -> None:
    everything = bank.client.get("/api/v1/help/faq").json()
    assert [item["key"] for item in everything["items"]] == [q.key for q in QUESTIONS]
    assert [t["key"] for t in everything["topics"]] == [t.key for t in TOPICS]
    first = everything["items"][0]
    assert first["question"] == QUESTIONS[0].zh and first["answer"] == QUESTIONS[0].answer_zh
    assert first["url"] == f"/help#{QUESTIONS[0].key}"

    found = bank.client.get("/api/v1/help/faq", params={"q": "sbdyzm"}).json()
    assert found["items"][0]["key"] == "faq_code"
    english = bank.client.get("/api/v1/help/faq", params={"q": "fee", "lang": "en"}).json()
    assert english["items"][0]["question"] == "Does a transfer cost a fee?"
    assert bank.client.get("/api/v1/help/faq", params={"q": "qqqqqqqq"}).json()["items"] == []
    too_long = bank.client.get("/api/v1/help/faq", params={"q": "x" * 51})
    assert too_long.status_code == 422
    assert too_long.headers["content-type"].startswith("application/problem+json")


def test_the_faq_page_is_grouped_and_searchable(bank: Bank) -> None:
    page = bank.client.get("/help")
    assert page.status_code == 200
    for topic in TOPICS:
        assert f'id="topic-{topic.key}"' in page.text and topic.zh in page.text
    for q in QUESTIONS:
        assert f'id="{q.key}"' in page.text
    assert page.text.index('id="topic-login"') < page.text.index('id="faq_forgot"')
    assert "<script>" not in page.text  # CSP: nothing inline

    found = bank.client.get("/help", params={"q": "手续费"})
    hits = found.text.split("data-faq-hits>")[1].split("</section>")[0]
    assert 'id="faq_fees"' in hits and 'id="faq_code"' not in hits

    english = bank.client.get("/help", params={"lang": "en", "q": "lost"})
    assert "Help and FAQ" in english.text and "I lost my card or my phone" in english.text
    nothing = bank.client.get("/help", params={"q": "qqqqqqqq"})
    assert "没有找到" in nothing.text or "Nothing found" in nothing.text


def test_the_search_box_on_every_page_finds_questions(bank: Bank) -> None:
    found = bank.client.get("/api/v1/functions", params={"q": "收不到验证码"}).json()
    assert found["items"][0] == {
        "key": "faq_code",
        "title": "收不到验证码怎么办？",
        "url": "/help#faq_code",
        "kind": "faq",
    }


def test_the_login_page_has_help_and_the_demo_link(bank: Bank) -> None:
    page = bank.client.get("/login").text
    assert 'data-form-help="login"' in page and 'href="/help#faq_locked"' in page
    assert 'aria-describedby="help-login-hint"' in page and 'id="help-login-hint"' in page
    assert 'href="/demo"' in page and "先体验一下" in page
    english = bank.client.get("/login", params={"lang": "en"}).text
    assert "Try it" in english and "Help with this form" in english


def test_every_page_links_to_the_faq(bank: Bank) -> None:
    for path in ("/login", "/register", "/functions", "/demo"):
        assert 'href="/help"' in bank.client.get(path).text, path
