"""HTML pages of the payee book: the list with search and recent payees, add, edit, remove,
and "save this payee" from a transfer's result page."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from wangyin.errors import DomainError
from wangyin.payees import actions
from wangyin.web.context import PageUser, State, check_form_csrf, client_of
from wangyin.web.forms import error_text, form_data
from wangyin.web.render import render

router = APIRouter()


def _list_page(
    request: Request,
    state: State,
    user: PageUser,
    *,
    query: str = "",
    error: str = "",
    done: str = "",
    status: int = 200,
) -> Response:
    return render(
        request,
        "payees/list.html",
        {
            "user": user,
            "csrf_token": user.csrf_token,
            "payees": actions.list_payees(state=state, user=user, query=query),
            "recent": [] if query else actions.recent_payees(state=state, user=user),
            "query": query,
            "error": error,
            "done": done,
        },
        status=status,
    )


@router.get("/payees")
def payee_list(
    request: Request,
    user: PageUser,
    state: State,
    q: Annotated[str, Query(max_length=50)] = "",
    done: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    return _list_page(request, state, user, query=q, done=done)


def _form_page(
    request: Request,
    user: PageUser,
    *,
    payee: Any = None,
    form: dict[str, str] | None = None,
    error: str = "",
    status: int = 200,
) -> Response:
    return render(
        request,
        "payees/form.html",
        {
            "user": user,
            "csrf_token": user.csrf_token,
            "payee": payee,
            "form": form or {},
            "error": error,
        },
        status=status,
    )


@router.get("/payees/new")
def new_payee(request: Request, user: PageUser) -> Response:
    return _form_page(request, user)


async def _submit(
    request: Request,
    user: PageUser,
    run: Callable[[dict[str, str]], object],
    on_error: Callable[[dict[str, str], str, int], Response],
    done: str,
) -> Response:
    form = await form_data(request)
    try:
        check_form_csrf(request, form.get("csrf_token", ""), user)
        run(form)
    except DomainError as exc:
        return on_error(form, error_text(request, exc), exc.status)
    return RedirectResponse(f"/payees?done={done}", status_code=303)


@router.post("/payees")
async def add_payee(request: Request, user: PageUser, state: State) -> Response:
    def run(form: dict[str, str]) -> object:
        return actions.add_payee(
            state=state,
            user=user,
            client=client_of(request, "web"),
            name=form.get("name", ""),
            account_number=form.get("account_number", ""),
            nickname=form.get("nickname", ""),
            limit=form.get("limit", ""),
        )

    def on_error(form: dict[str, str], error: str, status: int) -> Response:
        return _form_page(request, user, form=form, error=error, status=status)

    return await _submit(request, user, run, on_error, "added")


@router.post("/payees/from-transfer")
async def save_from_transfer(request: Request, user: PageUser, state: State) -> Response:
    def run(form: dict[str, str]) -> object:
        return actions.save_from_transfer(
            state=state,
            user=user,
            client=client_of(request, "web"),
            transfer_id=form.get("transfer_id", ""),
        )

    def on_error(_form: dict[str, str], error: str, status: int) -> Response:
        return _list_page(request, state, user, error=error, status=status)

    return await _submit(request, user, run, on_error, "added")


@router.get("/payees/{payee_id}/edit")
def edit_payee(payee_id: str, request: Request, user: PageUser, state: State) -> Response:
    payee = actions.get_payee(state=state, user=user, payee_id=payee_id)
    return _form_page(request, user, payee=payee)


@router.post("/payees/{payee_id}")
async def update_payee(payee_id: str, request: Request, user: PageUser, state: State) -> Response:
    def run(form: dict[str, str]) -> object:
        return actions.update_payee(
            state=state,
            user=user,
            client=client_of(request, "web"),
            payee_id=payee_id,
            nickname=form.get("nickname", ""),
            limit=form.get("limit", ""),
        )

    def on_error(form: dict[str, str], error: str, status: int) -> Response:
        payee = actions.get_payee(state=state, user=user, payee_id=payee_id)
        return _form_page(request, user, payee=payee, form=form, error=error, status=status)

    return await _submit(request, user, run, on_error, "saved")


@router.post("/payees/{payee_id}/delete")
async def remove_payee(payee_id: str, request: Request, user: PageUser, state: State) -> Response:
    def run(_form: dict[str, str]) -> object:
        actions.remove_payee(
            state=state, user=user, client=client_of(request, "web"), payee_id=payee_id
        )
        return None

    def on_error(_form: dict[str, str], error: str, status: int) -> Response:
        return _list_page(request, state, user, error=error, status=status)

    return await _submit(request, user, run, on_error, "removed")
