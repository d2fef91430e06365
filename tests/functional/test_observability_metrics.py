"""Issue 8 §1 (4.2-f): /metrics covers every route and every job, counts logins and
transfers from what committed, and no label carries personal data; only allow-listed
scrapers (or a bearer token) may read it."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.orm import Session
from starlette.routing import Mount

from factories import DEFAULT_PASSWORD
from functional.conftest import Bank
from functional.test_api import confirm, post_transfer, transfer_body
from wangyin.app import create_app
from wangyin.config import Settings
from wangyin.errors import DomainError
from wangyin.jobs import worker
from wangyin.observability.logs import UNMATCHED
from wangyin.security import audit
from wangyin.uow import run_write

LOOPBACK = ("127.0.0.1", 40123)

Samples = list[tuple[str, dict[str, str], float]]


def scrape(app: Any, **kwargs: Any) -> Samples:
    with TestClient(app, client=LOOPBACK) as scraper:
        response = scraper.get("/metrics", **kwargs)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return [
        (sample.name, dict(sample.labels), sample.value)
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    ]


def value(samples: Samples, name: str, **labels: str) -> float:
    return sum(
        v for n, lab, v in samples if n == name and all(lab.get(k) == x for k, x in labels.items())
    )


def templates(app: Any) -> dict[str, str]:
    """Every route of the app (app.routes, with the routers FastAPI includes lazily):
    template -> a method to call it with."""
    found = {}
    for route in iter_route_contexts(app.routes):
        assert route.path, route
        if isinstance(route.original_route, Mount):
            found[route.path] = "GET"
        else:
            methods = sorted(m for m in (route.methods or {"GET"}) if m != "HEAD")
            found[route.path] = methods[0] if methods else "GET"
    return found


def _url(template: str) -> str:
    if template == "/static":
        return "/static/app.css"
    return re.sub(r"\{[^}]+\}", "0", template)


def test_every_route_and_every_job_appears_in_the_metrics(bank: Bank) -> None:
    """4.2-f coverage >= 99 %, computed from app.routes: each route is called once (as an
    anonymous caller: most answer 401, 303, 404 or 422, which is what is measured) and
    must appear under its template; each worker job appears, and runs are counted."""
    app = bank.client.app
    routes = templates(app)
    assert len(routes) > 40
    for template, method in routes.items():
        bank.client.request(method, _url(template))
    stop = threading.Event()
    thread = threading.Thread(
        target=worker.run,
        args=(bank.settings,),
        kwargs={"db": bank.db, "clock": bank.clock, "stop": stop, "interval": 0.05},
    )
    thread.start()
    samples = scrape(app)
    try:
        for _ in range(200):  # at most 10 s for the first round of jobs
            samples = scrape(app)
            if value(samples, "wangyin_job_runs_total", job="log_retention", outcome="ok"):
                break
            stop.wait(0.05)
    finally:
        stop.set()
        thread.join(timeout=30)
    seen = {lab["route"] for n, lab, _ in samples if n == "wangyin_http_requests_total"}
    covered = set(routes) & seen
    coverage = len(covered) / len(routes)
    assert coverage >= 0.99, sorted(set(routes) - seen)
    assert covered == set(routes)  # today: every one
    jobs = {lab["job"] for n, lab, _ in samples if n == "wangyin_job_runs_total"}
    assert set(worker.JOBS) <= jobs
    for job in ("outbox_delivery", "channel_purge", "log_retention"):
        assert value(samples, "wangyin_job_runs_total", job=job, outcome="ok") >= 1, job
    assert value(samples, "wangyin_job_duration_seconds_count", job="outbox_delivery") >= 1


def _personal_values(bank: Bank, extra: set[str]) -> set[str]:
    values = set(extra)
    for person in (bank.a, bank.b, bank.c):
        values |= {
            person.customer.mobile,
            person.customer.id_number,
            person.customer.public_id,
            person.user.public_id,
            person.account.public_id,
            person.account.account_number,
            person.card_number,
            person.name,
            person.username,
        }
    return {v for v in values if v}


def test_no_label_carries_personal_data(bank: Bank) -> None:
    """After logins (with challenges), a transfer prepared and confirmed, refusals and
    requests on paths holding ids, no label value holds a customer's id, name, login,
    phone, ID, card or account number, a transfer id, or a raw path; routes are
    templates."""
    tid = post_transfer(bank, "metrics-pii-1", json=transfer_body(bank)).json()["id"]
    assert confirm(bank, tid, "metrics-pii-2").status_code == 200
    bank.client.get(f"/api/v1/transfers/{tid}", headers=bank.headers["zhangwei"])
    bank.client.get(f"/api/v1/accounts/{bank.a.account.public_id}", headers=bank.headers["lina"])
    bank.client.get(f"/no/such/{bank.a.customer.mobile}")
    bank.client.post("/api/v1/auth/login", json={"login": bank.a.customer.mobile, "password": "x"})
    bank.client.request("X13812345678", "/api/v1/accounts")  # a made-up method
    samples = scrape(bank.client.app)
    personal = _personal_values(bank, {tid})
    # The registry is the process's: a route another test added to its own app (the back
    # office's matrix proves an unlisted route is refused) is a template too.
    allowed_routes = set(templates(bank.client.app)) | {UNMATCHED, "/api/admin/v1/unlisted"}
    labels = [(n, k, v) for n, lab, _ in samples for k, v in lab.items()]
    assert len(labels) > 100
    for name, key, label in labels:
        assert not any(p in label for p in personal), (name, key, label)
        assert not re.search(r"\d{6}", label) or key == "le", (name, key, label)
        if key == "route":
            assert label in allowed_routes, label
    methods = {lab["method"] for n, lab, _ in samples if n == "wangyin_http_requests_total"}
    assert methods <= {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "OTHER"}
    assert "OTHER" in methods
    # The figures the journey made are there.
    assert value(samples, "wangyin_transfers_total", step="confirm", outcome="success") >= 1
    assert value(samples, "wangyin_logins_total", outcome="success", reason="none") >= 3
    assert value(samples, "wangyin_http_requests_total", route="/api/v1/transfers/{transfer_id}")


def test_logins_and_transfers_are_counted_by_outcome_and_reason(bank: Bank) -> None:
    app = bank.client.app
    before = scrape(app)
    bank.client.post(
        "/api/v1/auth/login", json={"login": "lina", "password": DEFAULT_PASSWORD + "x"}
    )
    bank.login("lina")
    post_transfer(bank, "metrics-count-1", json=transfer_body(bank, amount="99999999.00"))
    tid = post_transfer(bank, "metrics-count-2", json=transfer_body(bank)).json()["id"]
    confirm(bank, tid, "metrics-count-3", json={"transaction_password": "000000", "code": "1"})
    after = scrape(app)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("wangyin_logins_total", outcome="failure") == 1
    assert delta("wangyin_logins_total", outcome="success") == 1
    assert delta("wangyin_transfers_total", step="prepare", outcome="success") == 1
    refused = [
        (lab["step"], lab["reason"])
        for n, lab, v in after
        if n == "wangyin_transfers_total"
        and lab["outcome"] == "refused"
        and v > value(before, n, **lab)
    ]
    assert ("prepare", "over_single_limit") in refused or (
        "prepare",
        "insufficient_funds",
    ) in refused
    assert any(step == "confirm" for step, _ in refused), refused
    assert delta("wangyin_http_refusals_total", route="/api/v1/auth/login") >= 1


def test_audited_events_count_only_once_committed(sqlite_db: Any, clock: Any) -> None:
    """Counted after COMMIT: an attempt that rolls back adds nothing, a kept refusal
    counts (this fails if the counting moves into audit.append itself)."""

    def count() -> float:
        labels = {"event": "metrics_probe", "outcome": "refused"}
        return REGISTRY.get_sample_value("wangyin_audit_events_total", labels) or 0.0

    def attempt(keep: bool) -> Any:
        def action(s: Session) -> None:
            audit.append(s, event="metrics_probe", outcome="refused", actor="x", at=clock.now())
            error = DomainError("rate_limited")
            error.keep = keep
            raise error

        return action

    before = count()
    with pytest.raises(DomainError):
        run_write(sqlite_db, attempt(keep=False))
    assert count() == before
    with pytest.raises(DomainError):
        run_write(sqlite_db, attempt(keep=True))
    assert count() == before + 1


# --- who may read /metrics -------------------------------------------------------------------


@pytest.fixture
def app_with(settings: Settings, sqlite_db: Any) -> Iterator[Any]:
    def build(**changes: Any) -> Any:
        return create_app(settings.model_copy(update=changes), db=sqlite_db)

    yield build


def test_metrics_are_for_allow_listed_scrapers_or_a_bearer_token(app_with: Any) -> None:
    token = "m" + "3Kx9-pQ7_zR2vL8wN4tY6uH1jB5cF0dG"
    app = app_with(metrics_allow="10.0.0.0/8", metrics_token=token)
    with TestClient(app, client=("203.0.113.9", 5000)) as outsider:
        assert outsider.get("/metrics").status_code == 404
        wrong = outsider.get("/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 404
        assert (
            outsider.get("/metrics", headers={"Authorization": f"Bearer {token}"}).status_code
            == 200
        )
    with TestClient(app, client=("10.1.2.3", 5000)) as inside:
        assert inside.get("/metrics").status_code == 200
    with TestClient(app, client=("127.0.0.1", 5000)) as local:
        assert local.get("/metrics").status_code == 404  # not in this allow-list
    default = app_with()
    with TestClient(default, client=("::1", 5000)) as local6:
        assert local6.get("/metrics").status_code == 200
    with TestClient(app_with(metrics_enabled=False), client=LOOPBACK) as local:
        assert local.get("/metrics").status_code == 404


def test_production_refuses_metrics_open_to_everyone() -> None:
    prod = {
        "env": "prod",
        "secret_key": "Zq4-jW9_xN2pL7vR5tY8uK3hB6cF1dGs0aE",
        "database_url": "postgresql://app@db/wangyin",
    }
    with pytest.raises(ValueError, match="WANGYIN_METRICS_ALLOW"):
        Settings(**prod, metrics_allow="0.0.0.0/0,::/0")
    with pytest.raises(ValueError, match="WANGYIN_METRICS_TOKEN"):
        Settings(**prod, metrics_allow="0.0.0.0/0", metrics_token="short")
    Settings(**prod, metrics_allow="0.0.0.0/0", metrics_token="Hk2-9sLq_4Vw7Zx1Ny6Bm3Tc8Rd5Fg0Pj")
    Settings(**prod)  # loopback only, the default: accepted
    with pytest.raises(ValueError):
        Settings(metrics_allow="not-a-network")


def test_the_worker_serves_its_own_metrics_and_stops_serving_them(bank: Bank) -> None:
    """`wangyin worker` is its own process: with WANGYIN_WORKER_METRICS_PORT its jobs and
    deliveries are scraped from it; the port closes when the worker stops."""
    import socket

    import httpx

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = bank.settings.model_copy(update={"worker_metrics_port": port})
    stop = threading.Event()
    thread = threading.Thread(
        target=worker.run,
        args=(settings,),
        kwargs={"db": bank.db, "clock": bank.clock, "stop": stop, "interval": 0.05},
    )
    thread.start()
    text = ""
    try:
        for _ in range(200):  # at most 10 s
            try:
                text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
            except httpx.TransportError:
                text = ""
            if 'wangyin_job_runs_total{job="outbox_delivery",outcome="ok"}' in text:
                break
            stop.wait(0.05)
    finally:
        stop.set()
        thread.join(timeout=30)
    assert 'wangyin_job_runs_total{job="outbox_delivery",outcome="ok"}' in text
    assert "wangyin_outbox_delivery_seconds" in text
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2)
