"""Wires the back office into the app: its pages (/admin), its API (/api/admin/v1), the
customer's PIN-reset page and API, and the redirect to the staff sign-in page."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response

from wangyin.backoffice import api, pages
from wangyin.backoffice.context import StaffLoginRequired, StaffPageRefused
from wangyin.clearing import api as clearing_api
from wangyin.clearing import pages as clearing_pages
from wangyin.fraud import api as fraud_api
from wangyin.fraud import pages as fraud_pages
from wangyin.risk import api as risk_api
from wangyin.risk import pages as risk_pages


def install(app: FastAPI, *, customer_site: bool) -> None:
    """`customer_site`: False under `wangyin serve --admin-only` (no customer routes)."""
    app.include_router(api.router)
    app.include_router(risk_api.router)  # risk officers (issue 7 §3, §5)
    app.include_router(risk_pages.router, include_in_schema=False)
    app.include_router(fraud_api.router)  # anti-fraud holds and rules (issue 7 §4)
    app.include_router(fraud_pages.router, include_in_schema=False)
    app.include_router(clearing_api.admin_router)  # daily reconciliation (issue 6 §1)
    app.include_router(clearing_pages.admin_router, include_in_schema=False)
    app.include_router(pages.router, include_in_schema=False)
    if customer_site:
        app.include_router(api.customer_router, prefix="/api/v1")
        app.include_router(pages.customer_router, include_in_schema=False)
        app.include_router(risk_api.customer_router, prefix="/api/v1")  # complaints
        app.include_router(risk_pages.customer_router, include_in_schema=False)

    @app.exception_handler(StaffLoginRequired)
    async def _staff_login(request: Request, exc: StaffLoginRequired) -> Response:
        return RedirectResponse("/admin/login", status_code=303)

    @app.exception_handler(StaffPageRefused)
    async def _staff_refused(request: Request, exc: StaffPageRefused) -> Response:
        return pages.refused(request, exc.error)
