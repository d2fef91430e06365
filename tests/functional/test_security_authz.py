"""Authorization matrix (ASVS5-8.2.2 object-level authorization, 4.4-b2): customer B
calling every route that takes a resource id with customer A's ids gets 403/404 and none
of A's data, and A's state is unchanged. The routes are read from the app, so a new route
with a path parameter fails this test until it has a case here."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from factories.bank import DEFAULT_PIN
from functional.conftest import Bank, _phone_and_id
from wangyin.config import Settings
from wangyin.identity.models import Device, UserSession
from wangyin.uow import run_read
from wangyin.web.context import SESSION_COOKIE

# Pre-login steps addressed by a challenge id: holding the id *is* the capability (it was
# handed to whoever typed the right password); there is no logged-in caller to check.
PRE_LOGIN = {
    ("GET", "/login/verify/{challenge_id}"),
    ("POST", "/login/verify/{challenge_id}/code"),
    ("POST", "/login/verify/{challenge_id}"),
    ("GET", "/password/reset/{challenge_id}"),
    ("POST", "/password/reset/{challenge_id}"),
    # Registration's code step: the id was handed to whoever proved ID, card and mobile.
    ("GET", "/register/verify/{registration_id}"),
    ("POST", "/register/verify/{registration_id}/code"),
    ("POST", "/register/verify/{registration_id}"),
}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    if "channel_encryption" in Settings.model_fields:
        return settings.model_copy(update={"channel_encryption": "optional"})
    return settings


def routes(app: FastAPI) -> Iterator[tuple[str, str]]:
    """(method, path template) of every route, also inside included routers."""

    def walk(items: Any) -> Iterator[Any]:
        for route in items:
            if hasattr(route, "effective_route_contexts"):
                yield from route.effective_route_contexts()
            elif hasattr(route, "routes") and not hasattr(route, "path_format"):
                yield from walk(route.routes)
            else:
                yield route

    for route in walk(app.routes):
        path = getattr(route, "path_format", None) or getattr(route, "path", None)
        for method in sorted(getattr(route, "methods", None) or []):
            if path and method != "HEAD":
                yield method, path


# The back office's routes are staff routes, refused to every customer session; their own
# role x route matrix is in the back office's tests.
STAFF_PREFIXES = ("/admin", "/api/admin/")


def with_params(app: FastAPI) -> set[tuple[str, str]]:
    return {
        (m, p)
        for m, p in routes(app)
        if "{" in p and not p.startswith("/static") and not p.startswith(STAFF_PREFIXES)
    }


def a_ids(bank: Bank) -> dict[str, str]:
    """Real ids of customer A's resources: account, a pending transfer, a bound device, a
    saved payee."""
    prepared = bank.client.post(
        "/api/v1/transfers",
        json={
            "from_account_id": bank.a.account.public_id,
            "to_account_number": bank.c.account.account_number,
            "payee_name": "王芳",
            "amount": "12.34",
            "currency": "CNY",
        },
        headers={**bank.headers["zhangwei"], "Idempotency-Key": uuid.uuid4().hex},
    )
    assert prepared.status_code == 201, prepared.text
    device = run_read(
        bank.db,
        lambda s: s.scalar(select(Device.public_id).where(Device.user_id == bank.a.user.id)),
    )
    payee = bank.client.post(
        "/api/v1/payees",
        json={
            "name": "王芳",
            "account_number": bank.c.account.account_number,
            "nickname": "张家表妹",
            "limit": "777.77",
        },
        headers=bank.headers["zhangwei"],
    )
    assert payee.status_code == 201, payee.text
    schedule = bank.client.post(
        "/api/v1/schedules",
        json={
            "from_account_id": bank.a.account.public_id,
            "to_account_number": bank.c.account.account_number,
            "payee_name": "王芳",
            "amount": "12.34",
            "start_date": "2026-03-05",
        },
        headers={**bank.headers["zhangwei"], "Idempotency-Key": uuid.uuid4().hex},
    )
    assert schedule.status_code == 201, schedule.text
    line = {"to_account_number": bank.c.account.account_number, "payee_name": "王芳"}
    batch = bank.client.post(
        "/api/v1/batches",
        json={"from_account_id": bank.a.account.public_id, "lines": [{**line, "amount": "12.34"}]},
        headers=bank.headers["zhangwei"],
    )
    assert batch.status_code == 201, batch.text
    complaint = bank.client.post(
        "/api/v1/complaints",
        json={"subject": "张家表妹", "text": "777.77", "transfer_id": prepared.json()["id"]},
        headers=bank.headers["zhangwei"],
    )
    assert complaint.status_code == 201, complaint.text
    entry = bank.client.get("/api/v1/insights/entries", headers=bank.headers["zhangwei"])
    assert entry.status_code == 200 and entry.json(), entry.text
    return {
        "entry_id": entry.json()[0]["id"],
        "account_id": bank.a.account.public_id,
        "transfer_id": prepared.json()["id"],
        "device_id": str(device),
        "payee_id": payee.json()["id"],
        "schedule_id": schedule.json()["id"],
        "batch_id": batch.json()["id"],
        "complaint_id": complaint.json()["complaint_id"],
    }


def a_state(bank: Bank) -> tuple[Any, ...]:
    detail = bank.client.get(
        f"/api/v1/accounts/{bank.a.account.public_id}", headers=bank.headers["zhangwei"]
    ).json()
    security = bank.client.get("/api/v1/security", headers=bank.headers["zhangwei"]).json()
    transfers = bank.client.get("/api/v1/transfers", headers=bank.headers["zhangwei"]).json()
    payees = bank.client.get("/api/v1/payees", headers=bank.headers["zhangwei"]).json()
    return (
        [(p["id"], p["nickname"], p["limit"]) for p in payees],
        detail["balance"],
        [d["id"] for d in security["devices"]],
        security["freeze"],
        [(t["id"], t["status"]) for t in transfers],
    )


def forbidden_text(bank: Bank, ids: dict[str, str]) -> list[str]:
    mobile, id_number = run_read(bank.db, lambda s: _phone_and_id(s, "zhangwei"))
    return [
        bank.a.account.account_number,
        bank.a.card_number,
        mobile,
        id_number,
        "张伟",
        "12.34",
        "10000.00",
        "10,000.00",
        "张家表妹",
        "777.77",
    ]


def b_request(bank: Bank, method: str, url: str, *, api: bool) -> Any:
    """B's call: bearer token for the API; the session cookie + its CSRF token for pages."""
    if api:
        headers = {**bank.headers["lina"], "Idempotency-Key": uuid.uuid4().hex}
        body: dict[str, Any] = {}
        if url.endswith("/confirm"):
            body = {"transaction_password": DEFAULT_PIN, "code": "000000"}
        return bank.client.request(
            method, url, headers=headers, json=body if method != "GET" else None
        )
    token = bank.headers["lina"]["Authorization"].removeprefix("Bearer ")
    csrf = run_read(
        bank.db,
        lambda s: s.scalar(
            select(UserSession.csrf_token).where(
                UserSession.token_hash == hashlib.sha256(token.encode()).hexdigest()
            )
        ),
    )
    bank.client.cookies.set(SESSION_COOKIE, token)
    try:
        if method == "GET":
            return bank.client.get(url, follow_redirects=False)
        return bank.client.post(
            url,
            data={"csrf_token": csrf, "transaction_password": DEFAULT_PIN, "code": "000000"},
            follow_redirects=False,
        )
    finally:
        bank.client.cookies.clear()


def test_authz_every_route_with_an_id_refuses_another_customers_resources(bank: Bank) -> None:
    """ASVS5-8.2.2, 4.4-b2: for every route with a path parameter (API and pages), customer B
    using customer A's account, transfer and device ids gets 403/404, sees none of A's
    data, and A's balance, devices, freeze state and transfers are unchanged."""
    app: FastAPI = bank.client.app  # type: ignore[assignment]
    ids = a_ids(bank)
    before = a_state(bank)
    forbidden = forbidden_text(bank, ids)
    checked: set[tuple[str, str]] = set()
    for method, template in sorted(with_params(app) - PRE_LOGIN):
        params = {
            name: ids[name]
            for name in (
                "account_id",
                "transfer_id",
                "device_id",
                "payee_id",
                "schedule_id",
                "batch_id",
                "complaint_id",
                "entry_id",
            )
            if "{" + name + "}" in template
        }
        unknown = template.count("{") - len(params)
        assert unknown == 0, f"{method} {template}: add a case for its path parameter"
        url = template.format(**params)
        response = b_request(bank, method, url, api=template.startswith("/api/"))
        assert response.status_code in (403, 404), (method, url, response.status_code)
        leaked = [f for f in forbidden if f in response.text]
        assert leaked == [], (method, url, leaked)
        checked.add((method, template))
    assert before == a_state(bank)
    # The matrix really covers the resource kinds that matter.
    must_cover = {
        ("GET", "/api/v1/accounts/{account_id}"),
        ("GET", "/api/v1/accounts/{account_id}/transactions"),
        ("GET", "/api/v1/accounts/{account_id}/transactions.csv"),
        ("GET", "/api/v1/transfers/{transfer_id}"),
        ("POST", "/api/v1/transfers/{transfer_id}/code"),
        ("POST", "/api/v1/transfers/{transfer_id}/confirm"),
        ("GET", "/api/v1/transfers/{transfer_id}/reversal"),  # wangyin.reversals
        ("DELETE", "/api/v1/security/devices/{device_id}"),
        ("POST", "/security/devices/{device_id}/remove"),
        ("GET", "/transfer/{transfer_id}"),
        ("POST", "/transfer/{transfer_id}/confirm"),
        ("GET", "/accounts/{account_id}"),
        ("GET", "/api/v1/payees/{payee_id}"),
        ("PATCH", "/api/v1/payees/{payee_id}"),
        ("DELETE", "/api/v1/payees/{payee_id}"),
        ("POST", "/payees/{payee_id}"),
        ("POST", "/payees/{payee_id}/delete"),
        ("GET", "/payees/{payee_id}/edit"),
        ("GET", "/api/v1/schedules/{schedule_id}"),
        ("POST", "/api/v1/schedules/{schedule_id}/confirm"),
        ("POST", "/api/v1/schedules/{schedule_id}/cancel"),
        ("POST", "/transfer/schedules/{schedule_id}/confirm"),
        ("GET", "/api/v1/batches/{batch_id}"),
        ("GET", "/api/v1/batches/{batch_id}/result.csv"),
        ("POST", "/api/v1/batches/{batch_id}/confirm"),
        ("POST", "/transfer/batches/{batch_id}/confirm"),
        ("GET", "/api/v1/complaints/{complaint_id}"),
        ("GET", "/service/complaints/{complaint_id}"),
        ("PUT", "/api/v1/insights/entries/{entry_id}/category"),
        ("POST", "/api/v1/insights/entries/{entry_id}/category"),
        ("GET", "/insights/entries/{entry_id}"),
        ("POST", "/insights/entries/{entry_id}"),
    }
    assert must_cover <= checked, must_cover - checked


def test_authz_transfer_from_another_customers_account_is_refused(bank: Bank) -> None:
    """ASVS5-8.2.2: B cannot prepare a transfer debiting A's account id (body parameter)."""
    before = a_state(bank)
    response = bank.client.post(
        "/api/v1/transfers",
        json={
            "from_account_id": bank.a.account.public_id,
            "to_account_number": bank.b.account.account_number,
            "payee_name": "李娜",
            "amount": "1.00",
            "currency": "CNY",
        },
        headers={**bank.headers["lina"], "Idempotency-Key": uuid.uuid4().hex},
    )
    assert response.status_code == 404
    assert response.json()["code"] == "account_not_found"
    assert before == a_state(bank)


def test_authz_security_log_and_lists_hold_only_the_callers_data(bank: Bank) -> None:
    """ASVS5-8.2.2, 5.1.2-h: list endpoints without ids (security overview, operation log,
    transfers, accounts) answer with the caller's own data only."""
    ids = a_ids(bank)
    forbidden = forbidden_text(bank, ids)
    for path in (
        "/api/v1/security",
        "/api/v1/security/log",
        "/api/v1/transfers",
        "/api/v1/accounts",
        "/api/v1/me",
    ):
        text = bank.client.get(path, headers=bank.headers["lina"]).text
        assert [f for f in forbidden if f in text] == [], path
        assert ids["transfer_id"] not in text and ids["device_id"] not in text, path
