"""Random bodies against the money-moving and sign-up endpoints: never a 5xx, and every
4xx is problem+json with a known code."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from factories import DEFAULT_PASSWORD, Person, customer_total, make_person
from wangyin.app import create_app
from wangyin.clock import FrozenClock
from wangyin.config import Settings
from wangyin.db import Database
from wangyin.errors import ERRORS
from wangyin.uow import run_read, run_write


@pytest.fixture(scope="module")
def api(
    sqlite_template, tmp_path_factory
) -> Iterator[tuple[TestClient, dict[str, str], Person, Database]]:  # type: ignore[no-untyped-def]
    from conftest import T0 as start
    from conftest import sqlite_copy

    db = Database(sqlite_copy(sqlite_template, tmp_path_factory.mktemp("fuzz")))
    clock = FrozenClock(start)
    person = run_write(db, lambda s: make_person(s, at=start, username="fuzzer01"))
    # Fuzzing sends far more sign-ups than one address may: lift the per-IP limits. Plain
    # sensitive fields are allowed so fuzzed values reach the services behind the channel.
    unlimited = Settings(
        database_url="sqlite://", ratelimit_enabled=False, channel_encryption="optional"
    )
    app = create_app(unlimited, db=db, clock=clock)
    with TestClient(app, raise_server_exceptions=False) as client:
        token = client.post(
            "/api/v1/auth/login", json={"login": "fuzzer01", "password": DEFAULT_PASSWORD}
        ).json()["token"]
        yield client, {"Authorization": f"Bearer {token}"}, person, db
    db.dispose()


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=10,
)
amounts = st.one_of(
    st.text(max_size=45),
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.integers().map(str),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["0.001", "1e30", "1e400", "-0", "NaN", "1_000", "٣", "１００", " 1 "]),
)


def transfer_bodies(person: Person) -> st.SearchStrategy[Any]:
    field = st.one_of(st.text(max_size=60), json_values)
    realistic = st.fixed_dictionaries(
        {
            "from_account_id": st.sampled_from([person.account.public_id]) | field,
            "to_account_number": st.text(alphabet="0123456789 ", max_size=25) | field,
            "payee_name": st.text(max_size=55),
            "amount": amounts,
            "currency": st.sampled_from(["CNY", "cny", "USD", "JPY", "XYZ", ""]) | field,
            "remark": st.text(max_size=60),
        },
        optional={"extra": json_values},
    )
    return realistic | json_values


def check(response: Any) -> None:
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["code"] in ERRORS


FUZZ = settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@FUZZ
@given(data=st.data())
def test_transfer_endpoint_never_fails_on_bad_input(api, data) -> None:  # type: ignore[no-untyped-def]
    client, headers, person, db = api
    total = run_read(db, customer_total)
    body = data.draw(transfer_bodies(person))
    key = data.draw(
        st.one_of(
            st.none(), st.text(max_size=20), st.from_regex(r"[A-Za-z0-9_-]{8,40}", fullmatch=True)
        )
    )
    request_headers = dict(headers)
    if key is not None:
        request_headers["Idempotency-Key"] = key.encode("ascii", "ignore").decode() or "x"
    check(client.post("/api/v1/transfers", json=body, headers=request_headers))
    assert run_read(db, customer_total) == total  # preparing never moves money


@FUZZ
@given(raw=st.text(max_size=200).map(str.encode))
def test_transfer_endpoint_survives_raw_text(api, raw: bytes) -> None:  # type: ignore[no-untyped-def]
    client, headers, _, _ = api
    response = client.post(
        "/api/v1/transfers",
        content=raw,
        headers={**headers, "Idempotency-Key": "raw-bytes-key", "content-type": "application/json"},
    )
    check(response)


register_fields = st.fixed_dictionaries(
    {
        "name": st.text(max_size=60),
        "id_number": st.text(alphabet="0123456789Xx ", max_size=25) | st.text(max_size=25),
        "mobile": st.text(alphabet="0123456789+- ", max_size=22),
        "card_number": st.text(alphabet="0123456789 -", max_size=30),
        "username": st.text(max_size=45),
        "password": st.text(max_size=130),
    },
)


@FUZZ
@given(body=register_fields | json_values)
def test_register_endpoint_never_fails_on_bad_input(api, body: Any) -> None:  # type: ignore[no-untyped-def]
    client, _, _, _ = api
    response = client.post("/api/v1/auth/register", json=body)
    check(response)
    assert response.status_code != 201  # no random applicant holds one of our cards


@pytest.mark.parametrize("path", ["/api/v1/transfers", "/api/v1/auth/register"])
def test_body_that_is_not_utf8_is_a_problem(api, path: str) -> None:  # type: ignore[no-untyped-def]
    client, headers, _, _ = api
    response = client.post(
        path,
        content=b'{"amount": "\x80"}',
        headers={**headers, "Idempotency-Key": "not-utf8-key", "content-type": "application/json"},
    )
    check(response)
    assert response.json()["code"] == "malformed_json"
