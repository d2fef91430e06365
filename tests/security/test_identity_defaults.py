"""Identity and default-settings defects from the attack on the running bank (issue 11 #7,
#10, #15): device binding by a server-issued secret, the dev inbox for loopback clients
only, `seed-demo` refusing production, password history, no Host-built redirects, no
user id before the second factor, no OpenAPI document in production."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from factories import make_person
from functional.conftest import Bank
from wangyin.app import create_app
from wangyin.clock import FrozenClock
from wangyin.config import Settings
from wangyin.db import Database
from wangyin.uow import run_write

PG_UNUSED = "postgresql://unused@127.0.0.1/unused"  # the app is handed its database
GOOD_SECRET = "q7Vb2-Lm9xTz4Rk8Wp1Ns6Yh3Jd0Fc5Gu_Ea7Ko2Mi9Xv4Bt"


def prod_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "env": "prod",
        "database_url": PG_UNUSED,
        "secret_key": GOOD_SECRET,
        **overrides,
    }
    return Settings(**values)


@pytest.fixture
def served(sqlite_db: Database, clock: FrozenClock) -> Iterator[Any]:
    """An app with the given settings on the test database, as a TestClient factory."""
    clients: list[TestClient] = []

    def make(settings: Settings, **client_args: Any) -> TestClient:
        app = create_app(settings, db=sqlite_db, clock=clock)
        client = TestClient(app, raise_server_exceptions=False, **client_args)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


# --- #15: /openapi.json is a setting, off by default in production ---------------------------


def test_openapi_is_served_in_development_by_default(served: Any, settings: Settings) -> None:
    assert settings.openapi_enabled is True
    response = served(settings).get("/openapi.json")
    assert response.status_code == 200
    assert "/api/v1/auth/login" in response.json()["paths"]


def test_openapi_is_not_served_in_production_by_default(served: Any) -> None:
    """ASVS5-13.4.5 / issue 11 #15: production does not publish its API description
    unless told to."""
    settings = prod_settings()
    assert settings.openapi_enabled is False
    client = served(settings)
    assert client.get("/openapi.json").status_code == 404
    assert client.get("/docs").status_code == 404


def test_openapi_can_be_turned_on_in_production_explicitly(served: Any) -> None:
    response = served(prod_settings(openapi_enabled=True)).get("/openapi.json")
    assert response.status_code == 200


def test_openapi_can_be_turned_off_in_development(served: Any, settings: Settings) -> None:
    client = served(settings.model_copy(update={"openapi_enabled": False}))
    assert client.get("/openapi.json").status_code == 404


# --- #15: the trailing-slash redirect takes nothing from the Host header -----------------------


@pytest.mark.parametrize("path", ["/login/", "/api/v1/me/", "/accounts/?x=1"])
def test_trailing_slash_redirect_does_not_use_the_host_header(
    served: Any, settings: Settings, path: str
) -> None:
    """Issue 11 #15: Starlette's redirect_slashes answered `Location:
    http://<Host header>/login` - an open redirect and a cache-poisoning lever. The
    redirect is relative now, whatever Host says."""
    client = served(settings)
    response = client.get(path, headers={"Host": "evil.example"}, follow_redirects=False)
    assert response.status_code in (307, 308), response.status_code
    location = response.headers["location"]
    assert "evil.example" not in location
    assert location.startswith("/") and not location.startswith("//")
    assert location.split("?")[0] == path.split("?")[0].rstrip("/")


@pytest.mark.parametrize(
    ("location", "relative"),
    [
        ("http://evil.example/login", "/login"),
        ("http://evil.example/accounts?x=1", "/accounts?x=1"),
        ("http://evil.example//evil.example/login", "/evil.example/login"),
        ("http://evil.example/\\\\evil.example/login", "/evil.example/login"),
        ("http://evil.example", "/"),
    ],
)
def test_a_redirect_to_this_host_is_made_relative_never_protocol_relative(
    location: str, relative: str
) -> None:
    """A path of `//host/...` must not turn into a `//host` Location (another site)."""
    from wangyin.web.middleware import relative_location

    assert relative_location(location.encode(), b"evil.example") == relative.encode()
    # Another host's absolute Location (none of ours, but a reverse proxy's) is left alone.
    assert relative_location(b"https://other.example/x", b"evil.example") is None


# --- #15: nothing identifying before the second factor ----------------------------------------


def test_challenge_answer_reveals_no_user_id(bank: Bank) -> None:
    """Issue 11 #15: a right password from a new device got the user's public id (and
    edition) in the challenge answer, before any second factor."""
    body = bank.client.post(
        "/api/v1/auth/login",
        json={"login": "lina", "password": "Qiang-Mima-42"},
        headers={"X-Device-Id": "stolen-password-phone"},
    ).json()
    assert body["status"] == "challenge_required"
    assert body.get("user_id") is None
    assert body.get("edition") is None
    assert bank.b.user.public_id not in str(body)
    assert {k for k, v in body.items() if v not in (None, [], "")} <= {
        "status",
        "challenge_id",
        "reasons",
        "token_type",
    }


# --- #10: the dev inbox answers loopback clients only -----------------------------------------


@pytest.mark.parametrize(
    ("peer", "answers"),
    [
        ("127.0.0.1", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("192.168.1.20", False),
        ("203.0.113.9", False),
        ("testclient", False),
    ],
)
def test_dev_inbox_answers_only_loopback_clients(
    served: Any,
    settings: Settings,
    sqlite_db: Database,
    clock: FrozenClock,
    peer: str,
    answers: bool,
) -> None:
    """Issue 11 #10: with the default host (every interface) the dev inbox served every
    code to the network. It now answers only a client on this machine; others get the
    404 any unknown path gets."""
    person = run_write(sqlite_db, lambda s: make_person(s, at=clock.now()))
    client = served(settings, client=(peer, 50000))
    paths = [
        ("/api/v1/dev/messages", {"phone": person.customer.mobile}),
        ("/dev/inbox", {"phone": person.customer.mobile}),
        ("/dev/query-stats", {}),
    ]
    for path, params in paths:
        response = client.get(path, params=params)
        assert (response.status_code == 200) is answers, (path, peer, response.status_code)
        if not answers:
            assert response.status_code == 404


# --- #10: seed-demo refuses production -----------------------------------------------------


def test_seed_demo_refuses_a_production_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 11 #10: `seed-demo` wrote the published demo passwords into a production
    database. With WANGYIN_ENV=prod it refuses before connecting to anything."""
    from wangyin import cli

    monkeypatch.setenv("WANGYIN_ENV", "prod")
    monkeypatch.setenv("WANGYIN_DATABASE_URL", PG_UNUSED)
    monkeypatch.setenv("WANGYIN_SECRET_KEY", GOOD_SECRET)

    def no_database(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("seed-demo touched the database")

    monkeypatch.setattr("wangyin.db.Database", no_database)
    monkeypatch.setattr("wangyin.migrate.upgrade", no_database)
    for command in (["seed-demo"], ["demo"]):
        result = CliRunner().invoke(cli.app, command)
        assert result.exit_code != 0, result.output
        assert "prod" in result.output.lower(), result.output


def test_seed_demo_function_refuses_production_settings() -> None:
    from wangyin.seed import SeedRefused, refuse_production

    with pytest.raises(SeedRefused):
        refuse_production(prod_settings())
    refuse_production(Settings())  # dev: fine
