"""FastAPI compares a request with the routes one by one, in the order they were included
(app.py puts the money path's router first for that reason). A route whose paths an earlier
route of the same method also matches is never reached: this fails when an order change
or a new route shadows one, e.g. `GET /payees/recent` placed after `GET /payees/{id}`."""

from __future__ import annotations

import re
from pathlib import Path

from starlette.routing import compile_path

from wangyin.app import create_app
from wangyin.config import Settings


def _sample(template: str) -> str:
    return re.sub(r"\{[^}]+\}", "x1", template)


def test_no_api_route_shadows_another(tmp_path: Path) -> None:
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path}/routes.db", openapi_enabled=True))
    paths = app.openapi()["paths"]
    by_method: dict[str, list[str]] = {}
    for template, operations in paths.items():
        for method in operations:
            by_method.setdefault(method, []).append(template)
    overlaps: list[str] = []
    for method, templates in by_method.items():  # in matching order
        for index, earlier in enumerate(templates):
            regex = compile_path(earlier)[0]
            for later in templates[index + 1 :]:
                if regex.match(_sample(later)):
                    overlaps.append(f"{method.upper()} {later} is shadowed by {earlier}")
    assert overlaps == []
    # The money path's routes come first (the reason order matters at all).
    assert next(iter(paths)).startswith("/api/v1/transfers")
