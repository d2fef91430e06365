"""create_app(settings): wires routers, middleware, error handling and static files."""

from __future__ import annotations

import copy
import inspect
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import StatementError
from starlette.exceptions import HTTPException as StarletteHTTPException

from wangyin import __version__
from wangyin.clock import Clock, SystemClock
from wangyin.config import Settings
from wangyin.db import Database
from wangyin.errors import DomainError
from wangyin.i18n import gettext
from wangyin.observability import metrics
from wangyin.observability.logs import route_of
from wangyin.security.keys import load_keyring
from wangyin.web.availability import (
    DATABASE_EXCEPTIONS,
    RETRY_AFTER_SECONDS,
    DatabaseAvailability,
    availability_of,
    is_unavailable,
)
from wangyin.web.compress import CompressText
from wangyin.web.context import AppState, LoginRequired
from wangyin.web.fastlane import FastLane
from wangyin.web.guards import RequestGuards
from wangyin.web.middleware import SecurityAndLanguage
from wangyin.web.render import STATIC_DIR, render

log = logging.getLogger(__name__)

_HTTP_CODES = {
    400: "malformed_json",  # Starlette's "error parsing the body" (e.g. not UTF-8)
    401: "not_authenticated",
    404: "not_found",
    405: "method_not_allowed",
}


def problem(request: Request, error: DomainError, **extra: Any) -> JSONResponse:
    """RFC 9457 problem details in the caller's language, with a stable machine code and
    the request id (observability.logs) to quote to the bank."""
    lang = getattr(request.state, "lang", "zh")
    message = gettext(error.template, lang, **error.params)
    request_id = getattr(request.state, "request_id", None)
    body = {
        "type": f"urn:wangyin:problem:{error.code}",
        "title": message,
        "status": error.status,
        "code": error.code,
        "detail": message,
        "instance": request.url.path,
        "request_id": request_id,
        **extra,
    }
    headers = {"WWW-Authenticate": "Bearer"} if error.status == 401 else {}
    if "retry_after" in error.params:
        headers = {"Retry-After": str(error.params["retry_after"])}
    if request_id:
        # Also on a 500, which Starlette sends from outside the middleware that adds it.
        headers["X-Request-ID"] = request_id
    request.state.error_code = error.code  # counted by route and code (metrics)
    return JSONResponse(
        body, status_code=error.status, media_type="application/problem+json", headers=headers
    )


def _is_api(request: Request) -> bool:
    path: str = request.scope["path"]
    return path.startswith("/api/")


def _error_page(request: Request, error: DomainError) -> Response:
    lang = getattr(request.state, "lang", "zh")
    return render(
        request,
        "error.html",
        {"message": gettext(error.template, lang, **error.params), "code": error.code},
        status=error.status,
    )


def _with_retry_after(error: DomainError) -> DomainError:
    """503s tell the client when to try again (`problem()` reads `retry_after`)."""
    if error.status != 503 or "retry_after" in error.params:
        return error
    error = copy.copy(error)  # the raised one may be kept (e.g. a stored answer): not mutated
    error.params = {**error.params, "retry_after": RETRY_AFTER_SECONDS}
    return error


def _error_response(request: Request, error: DomainError) -> Response:
    error = _with_retry_after(error)
    if _is_api(request):
        return problem(request, error)
    response = _error_page(request, error)
    if "retry_after" in error.params:
        response.headers["Retry-After"] = str(error.params["retry_after"])
    request_id = getattr(request.state, "request_id", None)
    if request_id:
        response.headers["X-Request-ID"] = request_id
    request.state.error_code = error.code
    return response


def _internal_error(request: Request, exc: Exception) -> Response:
    """A logged 500. SQL parameters are hidden first: they can carry personal data."""
    seen: BaseException | None = exc
    for _ in range(16):  # the whole chain is logged: hide them in its causes too
        if seen is None:
            break
        if isinstance(seen, StatementError):
            seen.hide_parameters = True
        seen = seen.__cause__ or seen.__context__
    # The route template, not the path: paths hold account and transfer ids.
    log.exception("unhandled error on %s %s", request.method, route_of(request.scope))
    return _error_response(request, DomainError("internal_error"))


def create_app(
    settings: Settings | None = None, *, db: Database | None = None, clock: Clock | None = None
) -> FastAPI:
    settings = settings or Settings()
    # Fail at start, not at the first customer: production needs its keyring (key file).
    load_keyring(env=settings.env)
    db = db or Database(settings.database_url, pool_size=settings.db_pool_size)
    metrics.watch_database(db)  # pool use, retries and deadlocks in /metrics
    app = FastAPI(
        title="Wangyin internet banking API",
        version=__version__,
        # Off in production unless configured (issue 11 #15): no map of the API for anyone.
        openapi_url="/openapi.json" if settings.openapi_enabled else None,
        docs_url=None,
        redoc_url=None,
    )
    app.state.wangyin = AppState(settings=settings, db=db, clock=clock or SystemClock())
    # One warning when the database goes away, one when it answers again (web/availability).
    availability = DatabaseAvailability()
    availability.watch(db.engine)
    app.state.db_availability = availability

    @app.exception_handler(DomainError)
    async def _domain_error(request: Request, exc: DomainError) -> Response:
        if exc.code == "service_unavailable":
            availability_of(request.app).refused(exc)
        return _error_response(request, exc)

    # The database went away (stopped, restarting, failing over, pool exhausted): a 503
    # with Retry-After, no traceback. Handled here, not by the generic Exception handler
    # below, so Starlette does not re-raise and uvicorn keeps the connection alive.
    async def _database_error(request: Request, exc: Exception) -> Response:
        if not is_unavailable(exc):
            return _internal_error(request, exc)
        availability_of(request.app).refused(exc)
        return _error_response(request, DomainError("service_unavailable"))

    for exc_class in DATABASE_EXCEPTIONS:
        app.add_exception_handler(exc_class, _database_error)

    async def render_exception(request: Request, exc: Exception) -> Response:
        """The app's exception handlers, called by the middlewares that answer before or
        instead of FastAPI's router (web/guards.py, web/fastlane.py): Starlette's exception
        middleware only reaches the router. Looked up by class, most specific first."""
        for cls in type(exc).__mro__:
            handler = app.exception_handlers.get(cls)
            if handler is not None:
                response = handler(request, exc)
                return await response if inspect.isawaitable(response) else response
        raise exc

    @app.exception_handler(LoginRequired)
    async def _login_required(request: Request, exc: LoginRequired) -> Response:
        return RedirectResponse("/login", status_code=303)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            error = DomainError("malformed_json")
        else:
            error = DomainError("validation_error")
        if not _is_api(request):
            return _error_page(request, error)
        fields = [
            {
                "field": ".".join(str(p) for p in e.get("loc", ()) if p != "body"),
                "type": e.get("type"),
            }
            for e in errors
        ]
        return problem(request, error, errors=fields)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        code = _HTTP_CODES.get(exc.status_code)
        if code is None:
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)
        error = DomainError(code)
        return problem(request, error) if _is_api(request) else _error_page(request, error)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        return _internal_error(request, exc)

    from wangyin.accounts import api as accounts_api
    from wangyin.accounts import pages as accounts_pages
    from wangyin.aliases import api as aliases_api
    from wangyin.aliases import pages as aliases_pages
    from wangyin.backoffice import routes as backoffice_routes
    from wangyin.batches import api as batches_api
    from wangyin.batches import pages as batches_pages
    from wangyin.clearing import api as clearing_api
    from wangyin.clearing import pages as clearing_pages
    from wangyin.demo import api as demo_api
    from wangyin.demo import pages as demo_pages
    from wangyin.experience import api as experience_api
    from wangyin.experience import pages as experience_pages
    from wangyin.help import api as help_api
    from wangyin.help import pages as help_pages
    from wangyin.home import api as home_api
    from wangyin.home import pages as home_pages
    from wangyin.identity import api as identity_api
    from wangyin.identity import pages as identity_pages
    from wangyin.identity import security_api, security_pages
    from wangyin.insights import api as insights_api
    from wangyin.insights import pages as insights_pages
    from wangyin.payees import api as payees_api
    from wangyin.payees import pages as payees_pages
    from wangyin.payments import api as payments_api
    from wangyin.payments import pages as payments_pages
    from wangyin.receipts import api as receipts_api
    from wangyin.receipts import pages as receipts_pages
    from wangyin.schedules import api as schedules_api
    from wangyin.schedules import pages as schedules_pages
    from wangyin.web import channel_api, health

    # `wangyin serve --admin-only`: the back office (and health) without the customer site.
    customer_site = not settings.admin_only
    # Routes are matched in order, one by one (FastAPI): the money path's routes first, so a
    # transfer is not compared with every identity and channel route on each request.
    # (No path of one router shadows another's, so the order changes nothing else.)
    for router in (
        payments_api.router,
        channel_api.router,
        identity_api.router,
        security_api.router,
        accounts_api.router,
        payees_api.router,
        receipts_api.router,
        clearing_api.router,
        schedules_api.router,
        batches_api.router,
        aliases_api.router,
        experience_api.router,
        home_api.router,
        help_api.router,
        demo_api.router,
        insights_api.router,
    ):
        if customer_site:
            app.include_router(router, prefix="/api/v1")
    app.include_router(health.router)
    app.include_router(metrics.router)  # /metrics: allow-listed scrapers or a bearer token
    for router in (
        identity_pages.router,
        security_pages.router,
        accounts_pages.router,
        # Before payments': /transfer/schedules and /transfer/batches are not transfer ids.
        schedules_pages.router,
        batches_pages.router,
        payments_pages.router,
        payees_pages.router,
        receipts_pages.router,
        clearing_pages.router,
        aliases_pages.router,
        experience_pages.router,
        home_pages.router,
        help_pages.router,
        demo_pages.router,
        insights_pages.router,
    ):
        if customer_site:
            app.include_router(router, include_in_schema=False)
    backoffice_routes.install(app, customer_site=customer_site)
    from wangyin.reversals import api as reversals_api
    from wangyin.reversals import pages as reversals_pages

    # Reversals and refund requests from a risk case (issue 7 §5); customers: /reversal.
    app.include_router(reversals_api.router)
    if customer_site:
        app.include_router(reversals_api.customer_router, prefix="/api/v1")
    app.include_router(reversals_pages.router, include_in_schema=False)
    experience_pages.install()  # base.html's care_on() and bank_phone
    help_pages.install()  # the forms' contextual help (templates/help/_form_help.html)
    demo_pages.install()  # the login page offers to leave a live demo first
    home_pages.install()  # base.html's hide-amounts eye on /home and /accounts
    if settings.env == "dev":
        from wangyin.web import dev

        app.include_router(dev.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    # Innermost: prepare and confirm, the routes every transfer takes (within the bank and
    # to other banks), without FastAPI's router (web/fastlane.py); then, before them and
    # before routing, the demo (演示模式) is read-only on every route and per-IP rate limits
    # count, keyed by path (web/guards.py).
    if customer_site:
        app.add_middleware(
            FastLane,
            endpoints=(
                payments_api.prepare,
                payments_api.confirm,
                clearing_api.prepare,
                clearing_api.confirm,
            ),
            render=render_exception,
        )
    app.add_middleware(RequestGuards, render=render_exception)
    # gzip for HTML, CSS, JS and SVG, never /api/ JSON (web/compress.py).
    app.add_middleware(CompressText)
    app.add_middleware(SecurityAndLanguage, hsts=settings.hsts)
    # Outermost: the request id and the metrics cover the refusals of the middleware above.
    app.add_middleware(metrics.Observe)
    return app
