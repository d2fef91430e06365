"""The `wangyin` command."""

from __future__ import annotations

import contextlib
import socket
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from wangyin.config import Settings

app = typer.Typer(help="Wangyin internet banking", no_args_is_help=True)
db_app = typer.Typer(help="Database schema")
admin_app = typer.Typer(help="Counter operations (until the back office exists)")
keys_app = typer.Typer(help="Keys for data at rest")
app.add_typer(db_app, name="db")
app.add_typer(admin_app, name="admin")
app.add_typer(keys_app, name="keys")
console = Console()


def _settings() -> Settings:
    return Settings()


@db_app.command("upgrade")
def db_upgrade(revision: str = "heads") -> None:
    """Apply migrations up to REVISION."""
    from wangyin.migrate import upgrade

    upgrade(_settings().database_url, revision)
    console.print(f"database at {revision}")


@app.command("seed-demo")
def seed_demo() -> None:
    """Load demo customers, accounts and three months of history (once)."""
    from wangyin.accounts.models import Account, Card
    from wangyin.clock import SystemClock
    from wangyin.db import Database
    from wangyin.identity.models import Customer
    from wangyin.seed import DEMO_PASSWORD, DEMO_PIN, PEOPLE, SeedRefused, refuse_production
    from wangyin.seed import seed_demo as run_seed
    from wangyin.uow import run_write

    settings = _settings()
    try:
        refuse_production(settings)  # before any connection (issue 11 #10)
    except SeedRefused as refused:
        console.print(f"[red]{refused}[/red]", soft_wrap=True)
        raise typer.Exit(1) from None
    db = Database(settings.database_url)
    now = SystemClock().now()
    with console.status("seeding demo bank…"):
        result = run_write(db, lambda s: run_seed(s, now=now))
    console.print("demo data loaded" if result else "demo data already present")

    def cards(s):  # type: ignore[no-untyped-def]
        return s.execute(
            select(Customer.name, Card.number, Account.currency)
            .join(Card, Card.customer_id == Customer.id)
            .join(Account, Account.id == Card.account_id)
        ).all()

    from wangyin.uow import run_read

    rows = run_read(db, cards)
    # Plain lines, not a table: every value must survive a narrow terminal or a log file.
    console.print(
        f"Demo logins — password {DEMO_PASSWORD}, transaction password {DEMO_PIN}:",
        soft_wrap=True,
    )
    card_of = {name: number for name, number, _ in rows}
    for person in PEOPLE:
        login = person.username or "(not registered yet: use /register)"
        edition = f" ({person.edition} edition)" if person.username else ""
        console.print(
            f"  {person.name}: login {login}{edition}, mobile {person.mobile}, "
            f"ID {person.id_number}, debit card {card_of.get(person.name, '')}",
            soft_wrap=True,
        )
    console.print(
        "A first login from a browser binds it as a device: the code goes to the dev inbox "
        f"at {_local_url(settings)}/dev/inbox?phone=<mobile>; type the ID number above.",
        soft_wrap=True,
    )
    from wangyin.seed import DEMO_STAFF_PASSWORD, STAFF

    console.print(
        f"Back office at {_local_url(settings)}/admin — staff password {DEMO_STAFF_PASSWORD}, "
        "TOTP secrets (demo only; codes: an authenticator app, or "
        "python -c 'import pyotp; print(pyotp.TOTP(\"<secret>\").now())'):",
        soft_wrap=True,
    )
    for member in STAFF:
        console.print(
            f"  {member.username} ({member.role}, {member.name}): TOTP secret {member.totp_secret}",
            soft_wrap=True,
        )
    db.dispose()


def _local_url(settings: Settings) -> str:
    """Where to open the server on this machine: localhost when bound to every address."""
    scheme = "https" if settings.tls_cert else "http"
    host = settings.host
    if host in ("", "::", "0.0.0.0"):  # noqa: S104 - names the any-address, binds nothing
        host = "localhost"
    elif ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}:{settings.port}"


def _require_schema(settings: Settings) -> None:
    """Stop with a clear message when the database was never migrated (a fresh clone that
    ran `wangyin serve` before `wangyin db upgrade`), instead of failing on every request."""
    from sqlalchemy.exc import DBAPIError

    from wangyin.migrate import schema_problem

    try:
        problem = schema_problem(settings.database_url)
    except DBAPIError as exc:  # unreachable now: the app reports it in /readyz
        console.print(f"[yellow]could not check the database schema: {exc.orig}[/yellow]")
        return
    if problem:
        console.print(
            f"[red]{problem}: run `wangyin db upgrade` first (`make demo` does it)[/red]",
            soft_wrap=True,
        )
        raise typer.Exit(2)


def _dual_stack_socket(host: str, port: int) -> socket.socket:
    """IPv6 socket that also accepts IPv4 (4.1.2.1-h), unless a plain IPv4 host is given."""
    if ":" in host:
        sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    else:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


@app.command()
def serve(
    host: str = typer.Option(None, help="Bind address; default :: (IPv6 and IPv4)"),
    port: int = typer.Option(None, help="Port; default 8000"),
    workers: int = typer.Option(1, help="Worker processes"),
    tls_cert: str | None = typer.Option(
        None, "--tls-cert", help="PEM certificate (chain): serve HTTPS only, TLS 1.2+"
    ),
    tls_key: str | None = typer.Option(None, "--tls-key", help="PEM private key of --tls-cert"),
    drain_seconds: float = typer.Option(
        0.0,
        envvar="WANGYIN_DRAIN_SECONDS",
        help="On SIGTERM, keep serving this long with /readyz not ready before stopping "
        "(behind a load balancer: longer than its health checks take to mark a node down)",
    ),
    graceful_timeout: float = typer.Option(
        30.0,
        envvar="WANGYIN_GRACEFUL_TIMEOUT",
        help="Once stopping, wait at most this long for in-flight requests",
    ),
    admin_only: bool = typer.Option(
        False, "--admin-only", help="Serve only the back office (/admin, /api/admin/v1) and health"
    ),
) -> None:
    """Serve the web UI and the JSON API."""
    import os

    if admin_only is True:  # the app, loaded by uvicorn in each worker, reads it
        os.environ["WANGYIN_ADMIN_ONLY"] = "true"

    import uvicorn

    from wangyin.observability import logs, metrics
    from wangyin.ops import nodes
    from wangyin.web.tls import uvicorn_options

    settings = _settings()
    host = host or settings.host
    port = port or settings.port
    cert = tls_cert if isinstance(tls_cert, str) else settings.tls_cert
    key = tls_key if isinstance(tls_key, str) else settings.tls_key
    if bool(cert) != bool(key):
        console.print("[red]--tls-cert and --tls-key go together[/red]")
        raise typer.Exit(2)
    if cert:
        # The app, loaded by uvicorn (in each worker too), turns on HSTS and Secure cookies.
        os.environ["WANGYIN_TLS_CERT"], os.environ["WANGYIN_TLS_KEY"] = cert, key
    scheme = "https" if cert else "http"
    _require_schema(settings)
    sock = _dual_stack_socket(host, port)
    shown = f"[{host}]" if ":" in host else host
    console.print(f"Wangyin on {scheme}://{shown}:{port}  ({scheme}://localhost:{port})")
    config = uvicorn.Config(
        "wangyin.asgi:app",
        workers=workers,
        # Behind a reverse proxy: trust its X-Forwarded-For/-Proto (WANGYIN_FORWARDED_ALLOW_IPS).
        proxy_headers=bool(settings.forwarded_allow_ips),
        forwarded_allow_ips=settings.forwarded_allow_ips or None,
        **uvicorn_options(cert, key),
        server_header=False,
        access_log=False,  # ours is wangyin.access: route templates, request ids (JSON)
        log_level="info",
        log_config=logs.logging_config(fmt=settings.log_format, level=settings.log_level),
        timeout_graceful_shutdown=int(graceful_timeout) if graceful_timeout > 0 else None,
    )
    # SIGTERM drains (ops/nodes.py): /readyz not ready, serve on, then stop gracefully.
    # Several processes share their metrics in a directory of this run (removed at exit).
    shared = metrics.multiprocess_directory() if workers > 1 else contextlib.nullcontext()
    with shared:
        nodes.serve(config, sock, drain_seconds=drain_seconds)


@app.command("haproxy-config")
def haproxy_config(
    node: Annotated[list[str], typer.Option(help="An app node: [name=]host:port (repeat it)")],
    listen: str = typer.Option("*:8080", help="Where HAProxy accepts clients (its bind)"),
    stats_socket: str | None = typer.Option(None, help="HAProxy's admin socket, if any"),
) -> None:
    """Print haproxy.cfg for NODES from deploy/haproxy/haproxy.cfg.j2 (run from the checkout)."""
    from wangyin.ops import nodes

    if not nodes.HAPROXY_TEMPLATE.exists():
        console.print(f"{nodes.HAPROXY_TEMPLATE} not found: run from the repository root")
        raise typer.Exit(2)
    check = nodes.HealthCheck()
    nodes_ = [nodes.parse_node(text, i) for i, text in enumerate(node, start=1)]
    sys.stdout.write(nodes.haproxy_config(nodes=nodes_, listen=listen, check=check,
                                          stats_socket=stats_socket))
    console.print(f"# serve each node with --drain-seconds {check.drain_seconds():g} or more",
                  style="dim", highlight=False)


@app.command()
def worker() -> None:
    """Deliver the outbox (SMS and voice) and run scheduled jobs until stopped."""
    import signal
    import threading

    from wangyin.jobs import worker as jobs
    from wangyin.observability import logs

    settings = _settings()
    logs.configure(fmt=settings.log_format, level=settings.log_level)
    console.print("worker running (Ctrl-C stops it)")
    # SIGTERM finishes the message in hand, then stops (each is its own transaction).
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with contextlib.suppress(KeyboardInterrupt):
        jobs.run(settings, stop=stop)


@app.command()
def demo(
    host: str = typer.Option(None, help="Bind address; default :: (IPv6 and IPv4)"),
    port: int = typer.Option(None, help="Port; default 8000 (WANGYIN_PORT)"),
) -> None:
    """Migrate, seed the demo bank, print the logins and serve (port 8000) with a worker."""
    import os
    import threading

    from wangyin.jobs import worker as jobs
    from wangyin.seed import SeedRefused, refuse_production

    try:
        refuse_production(_settings())  # the demo seeds: not even a migration in prod
    except SeedRefused as refused:
        console.print(f"[red]{refused}[/red]", soft_wrap=True)
        raise typer.Exit(1) from None
    # --host/--port stand for WANGYIN_HOST/WANGYIN_PORT in this process, so the dev-inbox
    # address printed with the logins is the one served.
    if host:
        os.environ["WANGYIN_HOST"] = host
    if port:
        os.environ["WANGYIN_PORT"] = str(port)
    db_upgrade("heads")
    seed_demo()
    threading.Thread(target=jobs.run, args=(_settings(),), daemon=True, name="worker").start()
    serve(
        host=None, port=None, workers=1, tls_cert=None, tls_key=None,  # type: ignore[arg-type]
        drain_seconds=0.0, graceful_timeout=30.0, admin_only=False,
    )


@app.command()
def verify() -> None:
    """Recompute every balance from postings and check every entry; exit 1 on any problem."""
    from wangyin.db import Database
    from wangyin.verify import verify_all

    settings = _settings()
    db = Database(settings.database_url)
    report = verify_all(db)
    table = Table(title="wangyin verify")
    table.add_column("checked")
    table.add_column("count", justify="right")
    for name, count in report.checks.items():
        table.add_row(name, str(count))
    console.print(table)
    db.dispose()
    if report.problems:
        for problem in report.problems:
            console.print(f"[red]✗[/red] {problem}")
        console.print(f"[red]{len(report.problems)} problem(s) found[/red]")
        raise typer.Exit(1)
    console.print("[green]✓ ledger is consistent[/green]")


@app.command()
def backup(
    kind: str = typer.Option("full", "--type", help="full, or diff/incr (PostgreSQL only)"),
    list_only: bool = typer.Option(False, "--list", help="List the backups there are"),
) -> None:
    """Back up the database (SQLite: online copy; PostgreSQL: pgBackRest) and drop the
    backups beyond WANGYIN_BACKUP_RETENTION."""
    from wangyin.backup import service
    from wangyin.clock import SystemClock

    settings = _settings()
    try:
        if list_only:
            for item in service.backups(settings=settings):
                console.print(
                    f"{item.label}  {item.kind}  consistent to {item.stopped_at.isoformat()}  "
                    f"{item.size_bytes} bytes ({item.stored_bytes} stored)",
                    soft_wrap=True,
                )
            return
        made = service.backup(settings=settings, at=SystemClock().now(), kind=kind)
    except service.BackupError as exc:
        console.print(f"[red]backup failed: {exc}[/red]", soft_wrap=True)
        raise typer.Exit(1) from None
    console.print(
        f"backup {made.label} ({made.kind}) in {made.seconds or 0:.1f} s: "
        f"{made.size_bytes} bytes, {made.stored_bytes} stored",
        soft_wrap=True,
    )


@app.command()
def restore(
    to: str | None = typer.Option(
        None, "--to", help="New SQLite file, or new (empty) PostgreSQL data directory"
    ),
    at_time: str | None = typer.Option(
        None, "--time", help="Restore as of this moment (ISO 8601 with its offset)"
    ),
    replace_live: bool = typer.Option(
        False, "--replace-live", help="SQLite: copy the verified restore into the live file"
    ),
) -> None:
    """Restore a backup into a new place, verify it (`wangyin verify`'s checks), and say
    whether it is good; exit 1 when it is not. The live database is never written, but by
    --replace-live (SQLite, stop the app first) after the restore verified."""
    from datetime import datetime

    from wangyin.backup import service

    target_time = None
    if at_time:
        try:
            target_time = datetime.fromisoformat(at_time)
        except ValueError:
            target_time = None
        if target_time is None or target_time.tzinfo is None:
            console.print("[red]--time needs an ISO 8601 moment with its offset[/red]")
            raise typer.Exit(2)
    try:
        done = service.restore(
            settings=_settings(),
            target=Path(to) if to else None,
            to_time=target_time,
            replace_live=replace_live,
        )
    except service.BackupError as exc:
        console.print(f"[red]restore failed: {exc}[/red]", soft_wrap=True)
        raise typer.Exit(1) from None
    for name, count in done.report.checks.items():
        console.print(f"  {name}: {count}")
    source = f"backup {done.backup.label} (consistent to {done.backup.stopped_at.isoformat()})"
    if not done.good:
        for problem in done.report.problems:
            console.print(f"[red]✗[/red] {problem}", soft_wrap=True)
        console.print(
            f"[red]restore NOT good: {len(done.report.problems)} problem(s) in {done.location} "
            f"from {source}; the live database is untouched[/red]",
            soft_wrap=True,
        )
        raise typer.Exit(1)
    where = "into the live database" if done.replaced_live else f"into {done.location}"
    console.print(
        f"[green]✓ restore verified[/green] {where} from {source}"
        + (f", to {target_time.isoformat()}" if target_time else "")
        + f" in {done.seconds:.1f} s",
        soft_wrap=True,
    )


@admin_app.command("upgrade")
def admin_upgrade(customer: str) -> None:
    """Break-glass: open the professional edition for CUSTOMER (login name, mobile, ID
    number or id) without the back office's approval; recorded in the audit chain."""
    import getpass

    from wangyin.clock import SystemClock
    from wangyin.db import Database
    from wangyin.errors import DomainError
    from wangyin.identity import service as identity
    from wangyin.security import audit
    from wangyin.uow import run_write

    db = Database(_settings().database_url)
    now = SystemClock().now()

    def upgrade(s):  # type: ignore[no-untyped-def]
        # Break-glass: the back office's maker-checker is the way (issue 7); this is audited.
        user = identity.upgrade_to_professional(s, login=customer, at=now)
        audit.append(
            s, event="edition_upgraded", outcome="success", actor=f"cli:{getpass.getuser()}",
            at=now, customer_id=user.customer_id,
            details={"edition": "professional", "break_glass": True},
        )
        return user.username

    try:
        username = run_write(db, upgrade)
    except DomainError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    finally:
        db.dispose()
    console.print(f"{username}: professional edition opened")


@admin_app.command("unlock")
def admin_unlock(customer: str) -> None:
    """Lift a login lock for CUSTOMER (login name or mobile) at a customer's request."""
    from wangyin.clock import SystemClock
    from wangyin.db import Database
    from wangyin.errors import DomainError
    from wangyin.identity import service as identity
    from wangyin.uow import run_write

    db = Database(_settings().database_url)
    now = SystemClock().now()
    try:
        username = run_write(
            db, lambda s: identity.unlock(s, login=customer, staff="cli", at=now).username
        )
    except DomainError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    finally:
        db.dispose()
    console.print(f"{username}: login unlocked")


@keys_app.command("rotate")
def keys_rotate() -> None:
    """Add a new data key to the key file and re-encrypt every encrypted field with it."""
    from wangyin.db import Database
    from wangyin.security import rotation

    settings = _settings()
    db = Database(settings.database_url)
    try:
        with console.status("re-encrypting…"):
            counts = rotation.rotate(db)
    finally:
        db.dispose()
    for field, count in counts.items():
        console.print(f"{field}: {count} re-encrypted")


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def bench(ctx: typer.Context) -> None:
    """Run bench/transfers.py (see bench/README.md); extra arguments are passed on."""
    import runpy

    script = Path.cwd() / "bench" / "transfers.py"
    if not script.exists():
        console.print("bench/transfers.py not found: run from the repository root")
        raise typer.Exit(2)
    sys.argv = [str(script), *ctx.args]
    runpy.run_path(str(script), run_name="__main__")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
