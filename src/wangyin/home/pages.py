"""The home page customers land on after login (issue 9 §2)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from wangyin.home.api import load
from wangyin.web.context import PageUser, State
from wangyin.web.render import render

router = APIRouter()


@router.get("/home")
def home(request: Request, user: PageUser, state: State) -> Response:
    data = load(state, user.customer_id)
    return render(
        request,
        "home/home.html",
        {"user": user, "csrf_token": user.csrf_token, "home": data},
    )
