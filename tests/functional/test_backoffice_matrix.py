"""The back office's permission matrix (issue 7 §1): the table in code equals the one in
docs/backoffice.md, every /admin and /api/admin/v1 route has an entry (a new route without
one fails here), and every route is called as every role: allowed or refused as the
table says."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from sqlalchemy import select

from functional.conftest import Bank
from functional.test_backoffice_api import USER_OF_ROLE, Office, seed_office
from wangyin.backoffice import permissions
from wangyin.backoffice.context import STAFF_COOKIE
from wangyin.backoffice.models import StaffUser
from wangyin.uow import run_read, run_write

DOC = Path(__file__).resolve().parents[2] / "docs" / "backoffice.md"


def routes(app: FastAPI) -> list[tuple[str, str]]:
    """(method, path template) of every back-office route, inside included routers too."""

    def walk(items: Any) -> Any:
        for route in items:
            if hasattr(route, "effective_route_contexts"):
                yield from route.effective_route_contexts()
            elif hasattr(route, "routes") and not hasattr(route, "path_format"):
                yield from walk(route.routes)
            else:
                yield route

    found = set()
    for route in walk(app.routes):
        path = getattr(route, "path_format", None) or getattr(route, "path", "")
        if not (path == "/admin" or path.startswith(("/admin/", "/api/admin/"))):
            continue
        for method in getattr(route, "methods", None) or []:
            if method != "HEAD":
                found.add((method, path))
    return sorted(found)


def doc_table() -> dict[str, frozenset[str]]:
    table: dict[str, frozenset[str]] = {}
    header: list[str] = []
    for line in DOC.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells and cells[0] == "Permission":
            header = cells[1:]
            continue
        found = re.fullmatch(r"`([a-z_.]+)`", cells[0]) if header and cells else None
        if found and len(cells) == len(header) + 1:
            marks = zip(header, cells[1:], strict=True)
            table[found.group(1)] = frozenset(r for r, c in marks if c == "yes")
    return table


def test_the_documented_table_is_the_code_table() -> None:
    assert doc_table() == dict(permissions.PERMISSIONS)
    for roles in permissions.PERMISSIONS.values():
        assert roles <= set(permissions.ROLES)
    # Separation of duties the issue names: the administrator approves no money and sees
    # no customer; the auditor changes nothing.
    admin, auditor = permissions.ADMIN, permissions.AUDITOR
    assert not any(
        permissions.allowed(admin, p)
        for p in permissions.PERMISSIONS
        if p.startswith(("customer.", "command.", "propose.", "approve."))
    )
    assert not any(
        permissions.allowed(auditor, p)
        for p in permissions.PERMISSIONS
        if p.startswith(("propose.", "approve.", "staff.manage", "command.decide"))
        or p == "customer.reveal"
    )
    for kind in permissions.KINDS:
        if kind not in permissions.DIRECT_KINDS:
            assert permissions.PERMISSIONS[f"approve.{kind}"], kind


def test_every_back_office_route_has_a_permission(bank: Bank) -> None:
    app: FastAPI = bank.client.app  # type: ignore[assignment]
    found = routes(app)
    assert len(found) >= 30
    missing = [r for r in found if r not in permissions.ROUTES]
    assert missing == [], f"give these routes a permission in backoffice/permissions.py: {missing}"
    assert set(permissions.ROUTES) == set(found)  # no stale entries either


def test_a_route_without_an_entry_is_refused_to_every_role(bank: Bank) -> None:
    from fastapi import Depends

    from wangyin.backoffice.context import staff_user

    app: FastAPI = bank.client.app  # type: ignore[assignment]

    @app.get("/api/admin/v1/unlisted", dependencies=[Depends(staff_user)])
    def unlisted() -> dict[str, str]:
        return {"ok": "yes"}

    office = seed_office(bank)
    for role in permissions.ROLES:
        headers = office.sign_in(USER_OF_ROLE[role])
        response = bank.client.get("/api/admin/v1/unlisted", headers=headers)
        assert response.status_code == 403, role


def _ids(office: Office) -> dict[str, str]:
    """Real ids for the path parameters: a customer, a pending command of a kind both the
    supervisor and the risk officer may approve, a member of staff to disable and reset."""
    bank = office.bank
    teller = office.sign_in("teller")
    command = office.propose(teller, bank.a.customer.public_id, "unfreeze")
    assert command.status_code == 201, command.text
    admin = office.sign_in("admin")
    victim = bank.client.post(
        "/api/admin/v1/staff", json={"username": "victim", "name": "测试", "role": "teller"},
        headers=admin,
    )
    assert victim.status_code == 201, victim.text
    return {
        "customer_id": bank.a.customer.public_id,
        "command_id": command.json()["public_id"],
        "staff_id": victim.json()["public_id"],
        **_risk_ids(bank),
        **_fraud_ids(bank),
        **_reconciliation_ids(bank),
    }


def _reconciliation_ids(bank: Bank) -> dict[str, str]:
    """A reconciliation run with one open difference (clearing's back-office routes)."""
    from wangyin.clearing.models import ReconciliationMismatch, ReconciliationRun

    def build(s: Any) -> dict[str, str]:
        run = ReconciliationRun(day="2026-12-05", system="BEPS", statement="matrix",
                                matched=0, mismatched=1, run_at=bank.clock.now())
        s.add(run)
        s.flush()
        mismatch = ReconciliationMismatch(run_id=run.id, kind="missing_ours",
                                          reference="matrix-ref", ours="", theirs="100 PR02")
        s.add(mismatch)
        s.flush()
        return {"run_id": str(run.id), "mismatch_id": str(mismatch.id)}

    return run_write(bank.db, build)


def _fraud_ids(bank: Bank) -> dict[str, str]:
    """A held transfer (anti-fraud's routes)."""
    from factories.transfers import prepare
    from wangyin.fraud.models import FraudHold
    from wangyin.payments.models import TransferRequest

    _, prepared, _ = prepare(
        bank.db, bank.a, to=bank.b.account.account_number, payee_name=bank.b.name,
        amount="10.00", at=bank.clock.now(), settings=bank.settings,
    )

    def build(s: Any) -> None:
        row = s.scalars(
            select(TransferRequest).where(TransferRequest.public_id == prepared["id"])
        ).one()
        row.status = "HELD"
        s.add(FraudHold(transfer_id=row.public_id, transfer_row=row.id,
                        customer_id=row.customer_id, status="HELD", created_at=bank.clock.now()))

    run_write(bank.db, build)
    return {"transfer_id": prepared["id"]}


def _risk_ids(bank: Bank) -> dict[str, str]:
    """A case, a blacklist entry and a pending sign-up review (risk control's routes)."""
    from wangyin.risk import service as risk
    from wangyin.risk.models import RiskAssessment

    def build(s: Any) -> dict[str, str]:
        now = bank.clock.now()
        case = risk.open_case(
            s, kind="complaint", customer_id=bank.a.customer.id, priority=3, note="", at=now
        )
        entry = risk.add_entry(
            s, kind="mobile", value="13700009999", reason="matrix", staff_id="seed", at=now
        )
        review = RiskAssessment(
            customer_id=bank.a.customer.id, user_id=bank.a.user.id, level="high",
            factors="{}", review="pending", assessed_at=now,
        )
        s.add(review)
        s.flush()
        return {"case_id": str(case.id), "entry_id": str(entry.id),
                "assessment_id": str(review.id)}

    return run_write(bank.db, build)


def _call(office: Office, headers: dict[str, str], method: str, url: str) -> Any:
    client = office.bank.client
    if url.startswith("/api/"):
        body = {"reason": "matrix check", "payload": {}}
        return client.request(method, url, headers=headers,
                              json=body if method != "GET" else None)
    client.cookies.set(STAFF_COOKIE, headers["Authorization"].removeprefix("Bearer "),
                       path="/admin")
    try:
        if method == "GET":
            return client.get(url, follow_redirects=False)
        return client.post(
            url,
            data={"csrf_token": office.csrf_of(headers), "reason": "matrix check",
                  "username": "matrixuser", "name": "矩阵", "role": "teller"},
            follow_redirects=False,
        )
    finally:
        client.cookies.clear()


def test_every_route_as_every_role(bank: Bank) -> None:
    """Allowed: anything but a 403 or the sign-in page. Refused: 403 staff_forbidden."""
    office = seed_office(bank)
    ids = _ids(office)
    sessions = {role: office.sign_in(USER_OF_ROLE[role]) for role in permissions.ROLES}
    app: FastAPI = bank.client.app  # type: ignore[assignment]
    cases: list[tuple[str, str, str]] = []
    for method, template in routes(app):
        permission_template = permissions.ROUTES[(method, template)]
        if permission_template == permissions.PUBLIC:
            continue
        kinds = permissions.KINDS if "{kind}" in template else ("",)
        for kind in kinds:
            url = template.format(**ids, kind=kind)
            cases.append((method, url, permission_template.format(kind=kind)))
    # Signing out ends the session: last.
    cases.sort(key=lambda c: c[1].endswith("logout"))
    checked = 0
    for method, url, permission in cases:
        for role in permissions.ROLES:
            if url.endswith("/logout"):  # each sign-out ends a session of its own
                sessions[role] = office.sign_in(USER_OF_ROLE[role])
            response = _call(office, sessions[role], method, url)
            expected = permissions.allowed(role, permission)
            if url.endswith("/logout"):
                assert response.status_code in (204, 303), (role, method, url)
            elif expected:
                assert response.status_code != 403, (role, method, url, response.text[:300])
                assert response.headers.get("location") != "/admin/login", (role, method, url)
                assert response.status_code < 500, (role, method, url, response.text[:300])
            else:
                assert response.status_code == 403, (role, method, url, response.status_code)
                if url.startswith("/api/"):
                    assert response.json()["code"] == "staff_forbidden"
            checked += 1
    assert checked == len(cases) * len(permissions.ROLES) >= 6 * 38
    # The victim was disabled and reset by the administrator only.
    assert run_read(
        bank.db, lambda s: s.scalar(select(StaffUser.status).where(StaffUser.username == "victim"))
    ) == "active"
