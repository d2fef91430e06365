"""Scheduled transfers over HTTP: the JSON API (give -> code -> confirm with an
Idempotency-Key, list, runs, pause / resume / edit / cancel) and the pages, in Chinese and
English; the worker's job makes the runs as the clock moves."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from factories import DEFAULT_PASSWORD
from factories.bank import DEFAULT_PIN, credential_of
from functional.conftest import Bank
from wangyin.schedules import tasks
from wangyin.schedules.models import ScheduledTransfer
from wangyin.uow import run_write


def _key() -> dict[str, str]:
    return {"Idempotency-Key": uuid.uuid4().hex}


def _body(bank: Bank, **extra: object) -> dict[str, object]:
    return {
        "from_account_id": bank.a.account.public_id,
        "to_account_number": bank.b.account.account_number,
        "payee_name": "李娜",
        "amount": "88.00",
        "remark": "房租",
        "frequency": "monthly",
        "start_date": "2026-03-05",
        "start_time": "08:30",
        "max_runs": 2,
        **extra,
    }


def _give_and_confirm(bank: Bank, body: dict[str, object], path: str = "/api/v1/schedules") -> dict:  # type: ignore[type-arg]
    headers = bank.headers["zhangwei"]
    given = bank.client.post(path, json=body, headers={**headers, **_key()})
    assert given.status_code == 201, given.text
    sid = given.json()["id"]
    assert given.json()["status"] == "pending"
    sent = bank.client.post(f"/api/v1/schedules/{sid}/code", headers=headers)
    assert sent.status_code == 204, sent.text
    code = bank.last_code(bank.a.customer.mobile)
    key = _key()
    confirm = {
        "key_digest": given.json()["key_digest"],
        "transaction_password": DEFAULT_PIN,
        "code": code,
    }
    done = bank.client.post(
        f"/api/v1/schedules/{sid}/confirm", json=confirm, headers={**headers, **key}
    )
    assert done.status_code == 200, done.text
    again = bank.client.post(
        f"/api/v1/schedules/{sid}/confirm", json=confirm, headers={**headers, **key}
    )
    assert again.headers["Idempotent-Replayed"] == "true"  # a re-sent confirm: the first answer
    return done.json()  # type: ignore[no-any-return]


def test_scheduled_transfers_through_the_api(bank: Bank) -> None:
    headers = bank.headers["zhangwei"]
    active = _give_and_confirm(bank, _body(bank))
    sid = active["id"]
    assert active["status"] == "active" and active["next_run_at"].startswith("2026-03-05T00:30")

    # Someone else's instruction looks like none.
    other = bank.client.get(f"/api/v1/schedules/{sid}", headers=bank.headers["lina"])
    assert other.status_code == 404 and other.json()["code"] == "schedule_not_found"

    bank.clock.set(bank.clock.now() + timedelta(days=3))
    assert tasks.run_due(bank.db, bank.settings, at=bank.clock.now()) == 1
    bank.headers["zhangwei"] = headers = bank.login("zhangwei")
    view = bank.client.get(f"/api/v1/schedules/{sid}", headers=headers).json()
    assert [r["status"] for r in view["runs"]] == ["completed"]
    assert view["next_run_at"].startswith("2026-04-05")
    assert bank.balances()[bank.b.account.account_number] == "588.00"

    paused = bank.client.post(f"/api/v1/schedules/{sid}/pause", headers=headers)
    assert paused.json()["status"] == "paused"
    resumed = bank.client.post(f"/api/v1/schedules/{sid}/resume", headers=headers)
    assert resumed.json()["status"] == "active"

    # An edit: a new instruction confirmed anew, which replaces the old one.
    edited = _give_and_confirm(
        bank, _body(bank, amount="99.00", start_date="2026-03-20"), f"/api/v1/schedules/{sid}/edit"
    )
    assert edited["replaces"] == sid
    listed = bank.client.get("/api/v1/schedules", headers=headers).json()
    assert [x["id"] for x in listed] == [edited["id"]]
    cancelled = bank.client.post(f"/api/v1/schedules/{edited['id']}/cancel", headers=headers)
    assert cancelled.json()["status"] == "cancelled"


def test_bad_instructions_get_clear_answers_in_both_languages(bank: Bank) -> None:
    headers = bank.headers["zhangwei"]
    past = bank.client.post(
        "/api/v1/schedules",
        json=_body(bank, start_date="2026-03-01"),
        headers={**headers, **_key(), "Accept-Language": "en"},
    )
    assert past.status_code == 422 and past.json()["code"] == "schedule_time_invalid"
    assert "at least 5 minutes" in past.json()["detail"]
    wrong_name = bank.client.post(
        "/api/v1/schedules",
        json=_body(bank, payee_name="李四"),
        headers={**headers, **_key(), "Accept-Language": "zh-CN"},
    )
    assert wrong_name.json()["code"] == "payee_name_mismatch"
    public = bank.client.post(
        "/api/v1/schedules", json=_body(bank), headers={**bank.headers["wangfang"], **_key()}
    )
    assert public.status_code == 403 and public.json()["code"] == "public_edition"
    no_factor = bank.client.post(
        "/api/v1/schedules", json=_body(bank), headers={**headers, **_key()}
    ).json()
    refused = bank.client.post(
        f"/api/v1/schedules/{no_factor['id']}/confirm", json={}, headers={**headers, **_key()}
    )
    assert refused.json()["code"] == "transaction_password_required"


def _web_login(bank: Bank) -> str:
    client = bank.client
    client.cookies.set("wy_device", credential_of("zhangwei"))
    page = client.get("/login")
    csrf = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    client.post(
        "/login",
        data={"login": "zhangwei", "password": DEFAULT_PASSWORD, "csrf_token": csrf},
        follow_redirects=False,
    )
    return (
        client.get("/transfer/schedules").text.split('name="csrf_token" value="')[1].split('"')[0]
    )


def _field(html: str, name: str) -> str:
    return html.split(f'name="{name}" value="')[1].split('"')[0]


def test_scheduled_transfer_pages(bank: Bank) -> None:
    client = bank.client
    csrf = _web_login(bank)
    listing = client.get("/transfer/schedules")
    assert listing.status_code == 200 and "预约转账" in listing.text
    form = client.get("/transfer/schedules/new")
    assert "首次转账日期" in form.text
    refused = client.post(
        "/transfer/schedules",
        data={
            "csrf_token": csrf,
            "idempotency_key": uuid.uuid4().hex,
            **{k: str(v) for k, v in _body(bank, amount="abc").items()},
        },
    )
    assert refused.status_code == 422 and "金额" in refused.text
    given = client.post(
        "/transfer/schedules",
        data={
            "csrf_token": csrf,
            "idempotency_key": uuid.uuid4().hex,
            **{k: str(v) for k, v in _body(bank, frequency="weekly").items()},
        },
        follow_redirects=False,
    )
    assert given.status_code == 303, given.text
    confirm_path = given.headers["location"]
    page = client.get(confirm_path)
    assert "每周" in page.text and "88.00" in page.text
    client.post(confirm_path.replace("/confirm", "/code"), data={"csrf_token": csrf})
    page = client.get(confirm_path)
    done = client.post(
        confirm_path,
        data={
            "csrf_token": csrf,
            "idempotency_key": _field(page.text, "idempotency_key"),
            "key_digest": _field(page.text, "key_digest"),
            "code": bank.last_code(bank.a.customer.mobile),
            "transaction_password": DEFAULT_PIN,
        },
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
    detail = client.get(done.headers["location"])
    assert "预约转账已设置成功" in detail.text and "生效中" in detail.text
    paused = client.post(
        done.headers["location"].split("?")[0] + "/pause",
        data={"csrf_token": csrf},
        follow_redirects=True,
    )
    assert "预约转账已暂停" in paused.text
    english = client.get(done.headers["location"].split("?")[0] + "?lang=en")
    assert "Paused" in english.text and "Every week" in english.text


def test_naming_payees_wrongly_counts_towards_the_hourly_limit(bank: Bank) -> None:
    """Giving an instruction is no way round the payee-miss limit of transfers."""
    headers = bank.headers["zhangwei"]
    for _ in range(10):
        missed = bank.client.post(
            "/api/v1/schedules",
            json=_body(bank, payee_name="王五"),
            headers={**headers, **_key()},
        )
        assert missed.json()["code"] == "payee_name_mismatch"
    limited = bank.client.post("/api/v1/schedules", json=_body(bank), headers={**headers, **_key()})
    assert limited.status_code == 429 and limited.json()["code"] == "rate_limited"


def test_a_customer_has_at_most_so_many_live_instructions(bank: Bank) -> None:
    headers = bank.headers["zhangwei"]
    first = _give_and_confirm(bank, _body(bank))

    def copies(s: Session) -> None:
        row = s.scalars(select(ScheduledTransfer).filter_by(public_id=first["id"])).one()
        for _ in range(19):
            s.add(
                ScheduledTransfer(
                    **{
                        c.name: getattr(row, c.name)
                        for c in ScheduledTransfer.__table__.columns
                        if c.name not in ("id", "public_id")
                    },
                    public_id=uuid.uuid4().hex[:36],
                )
            )

    run_write(bank.db, copies)
    over = bank.client.post("/api/v1/schedules", json=_body(bank), headers={**headers, **_key()})
    assert over.status_code == 409 and over.json()["code"] == "schedules_too_many"
