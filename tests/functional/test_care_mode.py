"""Care mode (关爱版, 5.3.1): the switch before login (a cookie), after login (the user's
column too, so it follows the customer to a new browser), and what the pages then show."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from factories import DEFAULT_PASSWORD
from factories.bank import credential_of, new_id_number
from functional.conftest import Bank
from wangyin.experience.service import age_on
from wangyin.identity.models import Customer, User
from wangyin.uow import run_read, run_write


def _csrf(html: str) -> str:
    return html.split('name="csrf_token" value="')[1].split('"')[0]


def _care_saved(bank: Bank) -> bool:
    return bool(
        run_read(
            bank.db,
            lambda s: s.scalar(select(User.care_mode).where(User.username == "zhangwei")),
        )
    )


def test_the_switch_before_login_is_a_cookie(bank: Bank) -> None:
    client = bank.client
    client.cookies.clear()
    login = client.get("/login")
    assert "data-care-switch" in login.text and 'class="care"' not in login.text
    switched = client.post(
        "/care",
        data={"csrf_token": _csrf(login.text), "care": "1", "next": "/login"},
        follow_redirects=False,
    )
    assert switched.status_code == 303 and switched.headers["location"] == "/login"
    page = client.get("/login")
    assert 'class="care"' in page.text and "care.css" in page.text
    assert 'href="tel:95588"' in page.text
    # An open redirect is refused: only a path on this site.
    away = client.post(
        "/care",
        data={"csrf_token": _csrf(page.text), "care": "0", "next": "//evil.example/"},
        follow_redirects=False,
    )
    assert away.headers["location"] == "/"
    assert 'class="care"' not in client.get("/login").text


def test_the_switch_needs_the_csrf_token(bank: Bank) -> None:
    bank.client.cookies.clear()
    refused = bank.client.post("/care", data={"care": "1"}, follow_redirects=False)
    assert refused.status_code == 403 and "wy_care" not in refused.headers.get("set-cookie", "")


def test_the_choice_follows_the_customer(bank: Bank) -> None:
    client = bank.client
    client.cookies.clear()
    client.cookies.set("wy_device", credential_of("zhangwei"))
    client.post(
        "/login",
        data={
            "login": "zhangwei",
            "password": DEFAULT_PASSWORD,
            "csrf_token": _csrf(client.get("/login").text),
        },
        follow_redirects=False,
    )
    accounts = client.get("/accounts")
    assert "data-care-switch" in accounts.text  # the switch on the accounts page
    assert 'href="/security"' in accounts.text  # the full menu
    client.post(
        "/care", data={"csrf_token": _csrf(accounts.text), "care": "1", "next": "/accounts"}
    )
    assert _care_saved(bank)
    # A new browser: no care cookie, the customer's saved choice applies.
    del client.cookies["wy_care"]
    page = client.get("/accounts").text
    assert 'class="care"' in page
    menu = page.split('class="mainnav"')[1].split("</nav>")[0]
    assert 'href="/security"' not in menu and 'href="/transfer"' in menu  # main tasks only
    # No time limit without a way to extend it (WCAG 2.2.1): the warning offers more time.
    assert "data-stay" in page and 'href="tel:95588"' in page
    settings = client.get("/care")
    assert "关爱版已开启" in settings.text
    client.post("/care", data={"csrf_token": _csrf(settings.text), "care": "0", "next": "/care"})
    assert not _care_saved(bank)


def test_care_mode_is_suggested_from_60(bank: Bank) -> None:
    """Suggested (a sentence beside the switch) to a customer aged 60+, never switched on."""
    client = bank.client
    client.cookies.clear()
    client.cookies.set("wy_device", credential_of("zhangwei"))
    client.post(
        "/login",
        data={
            "login": "zhangwei",
            "password": DEFAULT_PASSWORD,
            "csrf_token": _csrf(client.get("/login").text),
        },
        follow_redirects=False,
    )
    assert "data-care-suggested" not in client.get("/accounts").text  # born 1988

    def older(s: Session) -> None:
        customer = s.get_one(Customer, bank.a.customer.id)
        customer.id_number = new_id_number(f"{bank.clock.now().year - 61}0101")

    run_write(bank.db, older)
    page = client.get("/accounts").text
    assert "data-care-suggested" in page and 'class="care"' not in page
    assert not _care_saved(bank)


def test_age_from_the_id_number() -> None:
    assert age_on("110105195001010012", today=date(2010, 1, 1)) == 60
    assert age_on("110105195001020012", today=date(2010, 1, 1)) == 59
    assert age_on("11010519501301001X", today=date(2010, 1, 1)) is None
