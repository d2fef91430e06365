"""Function search over HTTP: the JSON API, the 全部功能 page, the box on every page, and
every catalogue url being a real route."""

from __future__ import annotations

from factories import DEFAULT_PASSWORD
from factories.bank import credential_of
from functional.conftest import Bank
from wangyin.experience.catalogue import FUNCTIONS


def test_every_catalogue_url_is_a_real_page(bank: Bank) -> None:
    """Each result opens a page (signed in on the web), never a 404 or a 500."""
    client = bank.client
    client.cookies.set("wy_device", credential_of("zhangwei"))
    login = client.get("/login").text
    client.post(
        "/login",
        data={
            "login": "zhangwei",
            "password": DEFAULT_PASSWORD,
            "csrf_token": login.split('name="csrf_token" value="')[1].split('"')[0],
        },
        follow_redirects=False,
    )
    for entry in FUNCTIONS:
        path, _, anchor = entry.url.partition("#")
        page = client.get(path, follow_redirects=False)
        assert page.status_code == 200, (entry.url, page.status_code)
        if anchor:
            assert f'id="{anchor}"' in page.text


def test_the_json_search(bank: Bank) -> None:
    found = bank.client.get("/api/v1/functions", params={"q": "zz"}).json()
    assert found["items"][0] == {
        "key": "transfer",
        "title": "转账",
        "url": "/transfer",
        "kind": "function",
    }
    english = bank.client.get("/api/v1/functions", params={"q": "mm", "lang": "en"}).json()
    assert english["items"][0]["title"] == "Change password"
    everything = bank.client.get("/api/v1/functions").json()["items"]
    assert len(everything) == len(FUNCTIONS)
    assert bank.client.get("/api/v1/functions", params={"q": "x" * 51}).status_code == 422


def test_the_all_functions_page_and_the_box_on_every_page(bank: Bank) -> None:
    page = bank.client.get("/functions", params={"q": "mm"})
    assert page.status_code == 200 and "全部功能" in page.text
    hits = page.text.split("data-hits>")[1].split("</ul>")[0]
    assert hits.index('href="/password"') < hits.index('href="/password/forgot"')
    for entry in FUNCTIONS:
        assert f'href="{entry.url}"' in page.text or entry.kind == "faq"
    login = bank.client.get("/login")
    assert 'action="/functions"' in login.text and 'role="search"' in login.text
