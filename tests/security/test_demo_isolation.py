"""The demo (演示模式, 5.2.3-d) cannot reach a real customer's money or data: every unsafe
route of the whole app (customer, back office, API and pages) is walked with a live demo
session, in its cookie and as a bearer token, and refused `demo_read_only` unless it is
one of the demo's own steps; nothing is written (journal, balances, audit); and no GET
route shows a demo session anything of a real customer."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.routing import iter_route_contexts
from sqlalchemy import text

from functional.conftest import Bank, assert_problem
from wangyin.demo import service
from wangyin.demo.guard import DEMO_COOKIE
from wangyin.uow import run_read
from wangyin.verify import verify_all

UNSAFE = ("POST", "PUT", "PATCH", "DELETE")
# Served in development only (the dev SMS inbox): never in production.
DEV_ONLY = ("/api/v1/dev/", "/dev/")
_PARAM = re.compile(r"\{([^}:]+)(:[^}]+)?\}")


def _routes(bank: Bank) -> list[tuple[str, set[str]]]:
    """(path template, methods) of every route, in the routers FastAPI includes lazily too."""
    routes = [
        (route.path, set(route.methods or ()))
        for route in iter_route_contexts(bank.client.app.routes)
        if route.methods
    ]
    assert len(routes) > 100  # the whole app, back office included
    return routes


def _path(template: str, bank: Bank) -> str:
    """The route with each parameter filled by a real customer's object id, where one
    would be most tempting (their account), or a plausible id."""

    def fill(match: re.Match[str]) -> str:
        convertor = match.group(2) or ""
        return "1" if ":int" in convertor else bank.a.account.public_id

    return _PARAM.sub(fill, template)


def _written(bank: Bank) -> dict[str, Any]:
    def counts(s: Any) -> dict[str, Any]:
        return {
            table: s.scalar(text(f"SELECT count(*) FROM {table}"))  # noqa: S608 - fixed names
            for table in ("journal_entries", "postings", "audit_records", "transfer_requests")
        }

    return run_read(bank.db, counts)


def _demo_token(bank: Bank) -> str:
    token, _ = service.new_token(settings=bank.settings, at=bank.clock.now())
    return token


@pytest.mark.parametrize("carrier", ["cookie", "bearer"])
def test_every_unsafe_route_refuses_a_demo_session(bank: Bank, carrier: str) -> None:
    token = _demo_token(bank)
    client = bank.client
    client.cookies.clear()
    headers: dict[str, str] = {"Idempotency-Key": "demo-walk"}
    if carrier == "cookie":
        client.cookies.set(DEMO_COOKIE, token)
    else:
        headers["Authorization"] = f"Bearer {token}"
    balances = bank.balances()
    before = _written(bank)
    walked = 0
    for template, methods in _routes(bank):
        for method in sorted(methods & set(UNSAFE)):
            if template in service.DEMO_WRITE_PATHS:
                continue
            path = _path(template, bank)
            answer = client.request(method, path, headers=headers, json={})
            where = (method, template, answer.status_code, answer.text[:120])
            if path.startswith("/api/"):
                assert_problem(answer, "demo_read_only", 403)
            else:
                assert answer.status_code == 403, where
                assert "演示" in answer.text, where
            walked += 1
    assert walked > 80
    assert _written(bank) == before
    assert bank.balances() == balances
    assert verify_all(bank.db).problems == []


def test_no_get_route_shows_a_demo_session_a_real_customer(bank: Bank) -> None:
    token = _demo_token(bank)
    client = bank.client
    secrets_of_customers = []
    for person in (bank.a, bank.b, bank.c):
        secrets_of_customers += [
            person.account.account_number,
            person.customer.mobile,
            person.customer.id_number,
            person.account.public_id,
        ]
    # The check can see a leak: the customer's own token does show these.
    own = client.get("/api/v1/accounts", headers=bank.headers["zhangwei"]).text
    assert bank.a.account.account_number in own
    for carrier in ("cookie", "bearer"):
        client.cookies.clear()
        headers = {}
        if carrier == "cookie":
            client.cookies.set(DEMO_COOKIE, token)
        else:
            headers["Authorization"] = f"Bearer {token}"
        for template, methods in _routes(bank):
            if "GET" not in methods or template.startswith(DEV_ONLY):
                continue
            path = _path(template, bank)
            answer = client.get(path, headers=headers, follow_redirects=False)
            body = answer.text
            # The filled-in id may be echoed as the problem's `instance`: only the data.
            body = body.replace(path, "")
            for secret in secrets_of_customers:
                assert secret not in body, (carrier, template, answer.status_code)


def test_the_demo_steps_write_nothing_but_their_start_count(bank: Bank) -> None:
    """The allowed unsafe paths are the demo's own, and walking them writes no journal,
    transfer or audit record."""
    assert all(p.startswith(("/demo/", "/api/v1/demo/")) for p in service.DEMO_WRITE_PATHS)
    before = _written(bank)
    client = bank.client
    client.cookies.clear()
    intro = client.get("/demo")
    csrf = intro.text.split('name="csrf_token" value="')[1].split('"')[0]
    client.post("/demo/start", data={"csrf_token": csrf})
    form = {
        "csrf_token": csrf,
        "from_account": "current",
        "to_account_number": bank.b.account.account_number,
        "payee_name": "李娜",
        "amount": "10.00",
    }
    assert "/demo/transfer/confirm" in client.post("/demo/transfer", data=form).text
    assert client.post("/demo/transfer/confirm", data={"csrf_token": csrf}).status_code == 200
    assert _written(bank) == before
