"""Identity and default-settings defects from the attack on the running bank (issue 11 #7,
#10, #15): device binding by a server-issued secret, the dev inbox for loopback clients
only, `seed-demo` refusing production, password history, no Host-built redirects, no
user id before the second factor, no OpenAPI document in production."""

from __future__ import annotations

import itertools
import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from typer.testing import CliRunner

from factories import DEFAULT_PASSWORD, make_person
from factories.bank import credential_of, device_of
from functional.conftest import Bank, _phone_and_id, assert_problem
from wangyin.app import create_app
from wangyin.clock import FrozenClock
from wangyin.config import Settings
from wangyin.db import Database
from wangyin.identity import actions, devices
from wangyin.runtime import AppState
from wangyin.security.audit import Client
from wangyin.security.keys import load_keyring, use_keyring
from wangyin.uow import run_read, run_write

THREADS = 10
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


# --- #15: password history -------------------------------------------------------------------

HISTORY = ["Lishi-Mima-1a", "Lishi-Mima-2b", "Lishi-Mima-3c", "Lishi-Mima-4d", "Lishi-Mima-5e"]


def change(bank: Bank, old: str, new: str, who: str = "lina") -> Any:
    return bank.client.post(
        "/api/v1/auth/password",
        json={"old_password": old, "new_password": new},
        headers=bank.headers[who],
    )


def test_password_change_refuses_each_of_the_last_five_passwords(bank: Bank) -> None:
    """Issue 11 #15, ASVS5-6.2.x, 4.1.2.1-g: a new login password may not be the current
    one or any of the four before it; the sixth one back may come again."""
    passwords = [DEFAULT_PASSWORD, *HISTORY[:4]]  # the 5 latest, the current last
    for old, new in itertools.pairwise(passwords):
        assert change(bank, old, new).status_code == 204
    current = passwords[-1]
    assert_problem(change(bank, current, current), "password_reused", 422)
    for earlier in passwords[:-1]:
        body = assert_problem(change(bank, current, earlier), "password_in_history", 422)
        assert "5" in body["detail"]
    assert change(bank, current, HISTORY[4]).status_code == 204
    # DEFAULT_PASSWORD is now the sixth back: allowed again.
    assert change(bank, HISTORY[4], DEFAULT_PASSWORD).status_code == 204


def test_password_reset_refuses_the_last_five_passwords(bank: Bank) -> None:
    """Issue 11 #15: "forgot password" cannot set an old password again either (checked
    after the code, so the answer tells nothing to whoever lacks it)."""
    assert change(bank, DEFAULT_PASSWORD, HISTORY[0]).status_code == 204
    mobile, id_number = run_read(bank.db, lambda s: _phone_and_id(s, "lina"))

    def reset(new_password: str) -> Any:
        started = bank.client.post(
            "/api/v1/auth/password/reset",
            json={"id_number": id_number, "card_number": bank.b.card_number},
        )
        assert started.status_code == 200, started.text
        return bank.client.post(
            "/api/v1/auth/password/reset/finish",
            json={
                "challenge_id": started.json()["challenge_id"],
                "code": bank.last_code(mobile),
                "new_password": new_password,
            },
        )

    assert_problem(reset(HISTORY[0]), "password_reused", 422)
    assert_problem(reset(DEFAULT_PASSWORD), "password_in_history", 422)
    assert reset(HISTORY[1]).status_code == 204


def test_password_history_keeps_argon2_hashes_only(bank: Bank) -> None:
    """The old passwords are kept as their Argon2id hashes (peppered like the current
    one), at most the four before the current one."""
    passwords = [DEFAULT_PASSWORD, *HISTORY]
    for old, new in itertools.pairwise(passwords):
        assert change(bank, old, new).status_code == 204
    rows = run_read(
        bank.db,
        lambda s: s.execute(
            text("SELECT password_hash FROM password_history WHERE user_id = :u"),
            {"u": bank.b.user.id},
        ).all(),
    )
    assert len(rows) == 4
    for (stored,) in rows:
        assert stored.startswith("$argon2id$")
        assert not any(p in stored for p in passwords)


# --- #7: a device is bound by a secret the bank issued, not by a name it was told ------------


def login_api(bank: Bank, who: str, **headers: str) -> Any:
    return bank.client.post(
        "/api/v1/auth/login",
        json={"login": who, "password": DEFAULT_PASSWORD},
        headers=headers,
    )


def bind_api(bank: Bank, who: str, name: str) -> dict[str, Any]:
    """A new phone `name` logs in and binds itself with the code and the ID number."""
    first = login_api(bank, who, **{"X-Device-Id": name}).json()
    assert first["status"] == "challenge_required" and "new_device" in first["reasons"]
    mobile, id_number = run_read(bank.db, lambda s: _phone_and_id(s, who))
    sent = bank.client.post("/api/v1/auth/login/code", json={"challenge_id": first["challenge_id"]})
    assert sent.status_code == 204, sent.text
    done = bank.client.post(
        "/api/v1/auth/login/verify",
        json={
            "challenge_id": first["challenge_id"],
            "code": bank.last_code(mobile),
            "id_number": id_number,
        },
        headers={"X-Device-Id": name},
    )
    assert done.status_code == 200, done.text
    body: dict[str, Any] = done.json()
    return body


def secret_part(credential: str) -> str:
    return credential.rsplit(".", 1)[-1]


def test_a_copied_device_id_does_not_skip_the_new_device_step(bank: Bank) -> None:
    """Issue 11 #7, 4.3.2-c: the attacker has lina's password and the device id her phone
    sends (or the device's public id from her device list, or her browser's cookie name):
    none of them is a binding. Only the secret the bank issued is."""
    devices = bank.client.get("/api/v1/security", headers=bank.headers["lina"]).json()
    public_ids = [d["id"] for d in devices["devices"]]
    assert public_ids
    for claimed in [device_of("lina"), *public_ids]:
        body = login_api(bank, "lina", **{"X-Device-Id": claimed}).json()
        assert body["status"] == "challenge_required", claimed
        assert body["reasons"] == ["new_device"]
        bank.clock.advance(seconds=7)  # under the per-customer login limit
    # Her real credential, presented for another customer, binds nothing there either.
    body = login_api(bank, "zhangwei", **{"X-Device-Credential": credential_of("lina")}).json()
    assert body["status"] == "challenge_required"


def test_binding_issues_a_credential_that_rotates_at_every_login(bank: Bank) -> None:
    """Issue 11 #7: binding answers a random device credential (>= 128 bits); a login that
    presents it skips the new-device step and answers a new one; the old one then counts
    for nothing (a copy taken before is spent as soon as the phone logs in again)."""
    bound = bind_api(bank, "lina", "lina-new-phone")
    first = bound["device_credential"]
    assert first and len(secret_part(first)) >= 22  # 22 base64url characters: 132 bits
    again = login_api(bank, "lina", **{"X-Device-Credential": first}).json()
    assert again["status"] == "authenticated", again
    second = again["device_credential"]
    assert second and second != first and secret_part(second) != secret_part(first)
    bank.clock.advance(seconds=7)
    stale = login_api(bank, "lina", **{"X-Device-Credential": first}).json()
    assert stale["status"] == "challenge_required" and stale["reasons"] == ["new_device"]
    assert stale.get("device_credential") is None
    third = login_api(bank, "lina", **{"X-Device-Credential": second}).json()
    assert third["status"] == "authenticated" and third["device_credential"] not in (first, second)


def everything(table: str) -> str:
    return f"SELECT * FROM {table}"  # noqa: S608 - a fixed table name


def test_device_credential_is_never_echoed_nor_stored(bank: Bank) -> None:
    """Issue 11 #7: the security log, the device list and the login history show a
    device's public id and label, never its credential; the database keeps only a keyed
    hash of it."""
    bound = bind_api(bank, "lina", "lina-tablet")["device_credential"]
    rotated = login_api(bank, "lina", **{"X-Device-Credential": bound}).json()
    credential = rotated["device_credential"]
    headers = {"Authorization": f"Bearer {rotated['token']}"}
    shown = bank.client.get("/api/v1/security/log", headers=headers).text
    shown += bank.client.get("/api/v1/security", headers=headers).text
    for value in (bound, credential, factory_credential := credential_of("lina")):
        assert secret_part(value) not in shown, value
    overview = bank.client.get("/api/v1/security", headers=headers).json()
    device_ids = {d["id"] for d in overview["devices"]}
    log = bank.client.get("/api/v1/security/log", headers=headers).json()
    logged = {r["device_id"] for r in log if r["event"] in ("login", "device_bound")}
    assert logged & device_ids  # the log names devices by their public id
    assert overview["recent_logins"][0]["device_bound"] is True
    dump = "\n".join(
        str(row)
        for table in ("devices", "user_sessions", "login_challenges", "audit_records")
        for row in run_read(bank.db, lambda s, t=table: s.execute(text(everything(t))).all())
    )
    for value in (bound, credential, factory_credential):
        assert secret_part(value) not in dump


def test_a_removed_device_no_longer_counts(bank: Bank) -> None:
    credential = bind_api(bank, "lina", "lina-old-phone")["device_credential"]
    headers = bank.headers["lina"]
    devices = bank.client.get("/api/v1/security", headers=headers).json()["devices"]
    (old_phone,) = [d["id"] for d in devices if d["id"] in credential]
    removed = bank.client.delete(f"/api/v1/security/devices/{old_phone}", headers=headers)
    assert removed.status_code == 204
    body = login_api(bank, "lina", **{"X-Device-Credential": credential}).json()
    assert body["status"] == "challenge_required" and body["reasons"] == ["new_device"]


@pytest.mark.parametrize(
    "forged",
    [
        "wyd1",
        "wyd1..",
        "wyd1.x.y",
        "wyd1.01234567-89ab-cdef-0123-456789abcdef.AAAA",
        "." * 80,
        "wyd1." + "a" * 500,
        "wyd1.%C3%A9.%00",
    ],
)
def test_a_malformed_credential_is_a_new_device(bank: Bank, forged: str) -> None:
    response = login_api(bank, "lina", **{"X-Device-Credential": forged})
    assert response.status_code == 200, response.text
    assert response.json()["reasons"] == ["new_device"]


def test_clients_sending_only_a_device_id_still_log_in_as_a_new_device(bank: Bank) -> None:
    """What client.py (and any app of before) sends - X-Device-Id only - keeps working:
    every login is a new device's, finished with the code and the ID number."""
    for _ in range(2):
        body = bind_api(bank, "lina", "old-app")
        assert body["status"] == "authenticated" and body["token"]
        bank.clock.advance(seconds=7)


def hidden_csrf(html: str) -> str:
    return html.split('name="csrf_token" value="')[1].split('"')[0]


def web_login(bank: Bank, who: str) -> Any:
    page = bank.client.get("/login")
    return bank.client.post(
        "/login",
        data={"login": who, "password": DEFAULT_PASSWORD, "csrf_token": hidden_csrf(page.text)},
        follow_redirects=False,
    )


def device_cookie(response: Any) -> str:
    for header in response.headers.get_list("set-cookie"):
        if header.startswith("wy_device="):
            return str(header)
    return ""


def test_web_binding_sets_an_httponly_credential_cookie_that_rotates(bank: Bank) -> None:
    """Issue 11 #7 for browsers: the wy_device cookie holds the bank-issued credential
    (HttpOnly, SameSite=Strict), set when the browser is bound and replaced at every
    login; a browser presenting an old or invented cookie goes through the code step."""
    bank.client.cookies.clear()
    first = web_login(bank, "lina")
    assert "/login/verify/" in first.headers["location"]
    assert not device_cookie(first)  # nothing to bind with before the second factor
    challenge = first.headers["location"].rsplit("/", 1)[-1]
    page = bank.client.get(first.headers["location"])
    csrf = hidden_csrf(page.text)
    mobile, id_number = run_read(bank.db, lambda s: _phone_and_id(s, "lina"))
    bank.client.post(f"/login/verify/{challenge}/code", data={"csrf_token": csrf})
    done = bank.client.post(
        f"/login/verify/{challenge}",
        data={"csrf_token": csrf, "code": bank.last_code(mobile), "id_number": id_number},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == "/home"
    cookie = device_cookie(done)
    assert "HttpOnly" in cookie and "samesite=strict" in cookie.lower()
    bound = bank.client.cookies["wy_device"]
    assert len(secret_part(bound)) >= 22

    bank.clock.advance(seconds=7)
    again = web_login(bank, "lina")
    assert again.headers["location"] == "/home"  # the bound browser: no code step
    rotated = bank.client.cookies["wy_device"]
    assert rotated != bound
    log = bank.client.get("/security").text
    assert secret_part(bound) not in log and secret_part(rotated) not in log

    bank.clock.advance(seconds=7)
    bank.client.cookies.delete("wy_device")
    bank.client.cookies.set("wy_device", bound)  # the copy taken before the rotation
    stale = web_login(bank, "lina")
    assert "/login/verify/" in stale.headers["location"]


def test_concurrent_logins_with_one_credential_open_one_session(
    db: Database, clock: FrozenClock, settings: Settings
) -> None:
    """Issue 11 #7 with a copy of the credential: 10 logins presenting it at once (the
    phone and whoever copied it) are decided one after the other under the user row's
    lock - the first replaces the credential, the other 9 find it replaced and are
    challenged as new devices. On both databases."""
    person = run_write(db, lambda s: make_person(s, at=clock.now()))
    credential = credential_of(person.username)
    state = AppState(
        settings=settings.model_copy(update={"ratelimit_login_per_account": 100}),
        db=db,
        clock=clock,
    )
    start = threading.Barrier(THREADS)
    outcomes: list[str] = []
    guard = threading.Lock()

    def attempt(i: int) -> None:
        start.wait()
        try:
            outcome = actions.password_login(
                state=state,
                login=person.username,
                password=DEFAULT_PASSWORD,
                client=Client(ip=f"198.51.100.{i + 1}", client_type="api"),
                device_credential=credential,
            )
            result = "authenticated" if outcome.session else ",".join(outcome.reasons)
        except Exception as error:  # reported as an outcome, then asserted
            result = f"crash: {error!r}"
        with guard:
            outcomes.append(result)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert Counter(outcomes) == Counter({"authenticated": 1, "new_device": THREADS - 1})


def test_device_credentials_keep_verifying_after_key_rotation(bank: Bank) -> None:
    """`wangyin keys rotate` adds a look-up key version: a credential hashed under the old
    one still verifies (its key id is stored with the hash); the next is hashed under the
    new one."""
    before = load_keyring()
    use_keyring(before.rotated())
    try:
        body = login_api(bank, "lina", **{"X-Device-Credential": credential_of("lina")}).json()
        assert body["status"] == "authenticated"
        stored = run_read(
            bank.db,
            lambda s: s.execute(
                text("SELECT credential_hash FROM devices WHERE public_id = :p"),
                {"p": devices.public_id_of(body["device_credential"])},
            ).scalar_one(),
        )
        assert stored.startswith(f"{load_keyring().lookup.active}:")
        assert load_keyring().lookup.active != before.lookup.active
    finally:
        use_keyring(before)
