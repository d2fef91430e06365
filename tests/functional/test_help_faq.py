"""The FAQ over HTTP (5.2.1-d): the JSON API, the /help page (searchable with a GET query,
no script, grouped by topic, zh and en), and the contextual help on the forms."""

from __future__ import annotations

from functional.conftest import Bank
from security.conftest import web_login
from wangyin.help.contextual import FORMS
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


# Each form with its contextual help, and the field its hint explains.
FORM_PAGES = {
    "login": ("/login", "login"),
    "register": ("/register", "card_number"),
    "transfer": ("/transfer", "to_account_number"),
    "payees": ("/payees/new", "account_number"),
    "limits": ("/security/limits", "single_limit"),
    "security": ("/security", None),
}


def test_every_form_has_its_contextual_help(bank: Bank) -> None:
    """A hint the field points at (aria-describedby) and a disclosure to the FAQ entry."""
    assert set(FORM_PAGES) == set(FORMS)
    web_login(bank)
    for topic, (path, field) in FORM_PAGES.items():
        page = bank.client.get(path).text
        assert f'data-form-help="{topic}"' in page, path
        assert f'href="/help#{FORMS[topic].faq}"' in page, path
        if field is not None:
            tag = page.split(f'id="{field}"')[1].split(">")[0]
            assert f"help-{topic}-hint" in tag, (path, tag)
            assert f'id="help-{topic}-hint"' in page
