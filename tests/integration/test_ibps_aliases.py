"""Aliases at other banks through the IBPS simulator, on SQLite and PostgreSQL: the look-up
(masked name, bank, never the account), the network's name check, an IBPS payment naming
the network's token that settles and debits once, a token the network no longer honours
(rejected, refunded), the network down (nothing debited, nothing counted) and the hourly
limit shared by local and network look-ups, counted in the transaction that looks here,
before the network is asked outside any transaction."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from factories import make_person
from integration.test_clearing import Net
from wangyin.aliases import actions as alias_actions
from wangyin.aliases import service as aliases
from wangyin.clearing import directory
from wangyin.clearing.models import InterbankTransfer, SimulatedItem
from wangyin.clearing.settings import ClearingSettings
from wangyin.clearing.tasks import ClearingJob
from wangyin.clock import FrozenClock
from wangyin.config import Settings
from wangyin.db import Database
from wangyin.errors import DomainError
from wangyin.gateways.clearing import alias_directory
from wangyin.gateways.clearing.simulator import CnapsSimulator
from wangyin.runtime import AppState
from wangyin.uow import run_read, run_write

CMB = "308584000013"
ZHANG_MOBILE = "13900001111"  # 张大伟 at CMB (the demo's)
ZHANG_ACCOUNT = "6225880000001111"
_SERIES = "wangyin_clearing_gateway_seconds_count"


@pytest.fixture
def net(db: Database, clock: FrozenClock, settings: Settings, tmp_path: Path) -> Net:
    cfg = ClearingSettings(statement_dir=str(tmp_path / "statements"), send_timeout_seconds=0.2)
    payer = run_write(db, lambda s: make_person(s, at=clock.now(), balance_minor=200_000_00))
    run_write(db, directory.seed_directory)
    run_write(db, lambda s: alias_directory.seed_demo_aliases(s, at=clock.now()))
    return Net(db, clock, settings, cfg, ClearingJob(db, clock, settings=cfg), payer)


def _sim(net: Net, **switches: object) -> CnapsSimulator:
    return CnapsSimulator(net.db, net.clock, net.clearing.model_copy(update=switches))


def _state(net: Net) -> AppState:
    return AppState(settings=net.settings, db=net.db, clock=net.clock)


def _look_up(net: Net, mobile: str, gateway: CnapsSimulator | None = None) -> aliases.MobilePayee:
    """Counted and looked for here, then at the network (outside the transaction)."""
    return alias_actions.find_payee(
        _state(net), customer_id=net.payer.customer.id, mobile=mobile, network=gateway or _sim(net)
    )


def _payee(
    net: Net, mobile: str, name: str, gateway: CnapsSimulator | None = None
) -> tuple[str, str] | aliases.NetworkPayee:
    """As a payment by mobile number resolves its payee: counted here, and for an alias at
    another bank the network asked between two transactions."""
    now = net.clock.now()

    def resolve(asked: aliases.NetworkAnswer | None) -> tuple[str, str] | aliases.NetworkPayee:
        return run_write(
            net.db,
            lambda s: aliases.payee_for_transfer(
                s,
                customer_id=net.payer.customer.id,
                mobile=mobile,
                name_check=name,
                at=now,
                asked=asked,
            ),
        )

    try:
        return resolve(None)
    except DomainError as error:
        if error.code != "alias_at_network":
            raise
    return resolve(
        alias_actions.ask_network(
            _state(net),
            customer_id=net.payer.customer.id,
            mobile=mobile,
            name_check=name,
            network=gateway or _sim(net),
        )
    )


def _count(net: Net, model: type) -> int:
    return run_read(net.db, lambda s: s.scalar(select(func.count()).select_from(model)))


def _refused(call: object) -> str:
    with pytest.raises(DomainError) as refused:
        call()  # type: ignore[operator]
    return refused.value.code


def test_the_network_answers_the_masked_name_and_bank_never_the_account(net: Net) -> None:
    shown = _look_up(net, ZHANG_MOBILE)
    assert (shown.masked_name, shown.bank_name, shown.bank_code, shown.via) == (
        "张*伟",
        "招商银行",
        CMB,
        "ibps",
    )
    assert shown.account_number == ""
    assert _refused(lambda: _look_up(net, "13900009999")) == "alias_not_found"


def test_the_network_checks_the_name(net: Net) -> None:
    assert _refused(lambda: _payee(net, ZHANG_MOBILE, "王")) == "alias_name_mismatch"
    assert _refused(lambda: _payee(net, ZHANG_MOBILE, "大")) == "alias_name_mismatch"
    payee = _payee(net, ZHANG_MOBILE, "大伟")
    assert isinstance(payee, aliases.NetworkPayee)
    assert (payee.bank_code, payee.masked_name) == (CMB, "张*伟")
    assert alias_directory.is_token(payee.reference) and ZHANG_ACCOUNT not in payee.reference


def test_an_ibps_payment_to_a_network_alias_settles_and_debits_once(net: Net) -> None:
    payee = _payee(net, ZHANG_MOBILE, "张")
    assert isinstance(payee, aliases.NetworkPayee)
    before = net.balance()
    tid = net.pay("880.00", account=payee.reference, name=payee.masked_name, bank=CMB)
    assert net.balance() == before - 880_00
    row = run_read(
        net.db,
        lambda s: (
            s.scalars(select(InterbankTransfer).where(InterbankTransfer.public_id == tid))
            .one()
            .system
        ),
    )
    assert row == "IBPS"
    net.job.tick()
    net.job.tick()  # nothing moves twice
    assert net.status(tid) == "SETTLED"
    assert net.balance() == before - 880_00
    # The network paid the account behind the token, under the full name: no return later.
    item = run_read(net.db, lambda s: s.scalars(select(SimulatedItem)).one())
    assert (item.account, item.payee_name, item.status) == (ZHANG_ACCOUNT, "张大伟", "PR04")
    assert item.return_due_at is None
    net.clock.advance(days=net.clearing.return_days + 1)
    net.job.tick()
    assert net.status(tid) == "SETTLED"
    assert net.verify() == []


def test_a_token_the_network_no_longer_honours_is_rejected_and_refunded(net: Net) -> None:
    payee = _payee(net, ZHANG_MOBILE, "张")
    assert isinstance(payee, aliases.NetworkPayee)
    before = net.balance()
    tid = net.pay("100.00", account=payee.reference, name=payee.masked_name, bank=CMB)
    # The worker was away past the token's life: the network rejects the item.
    net.clock.advance(seconds=(alias_directory.TOKEN_VALID + timedelta(minutes=1)).total_seconds())
    net.job.tick()
    assert net.status(tid) == "REJECTED"
    assert net.balance() == before
    item = run_read(net.db, lambda s: s.scalars(select(SimulatedItem)).one())
    assert item.reason == "alias_unknown"
    # A forged token typed into the ordinary inter-bank form is rejected the same way.
    forged = payee.reference[:-1] + str((int(payee.reference[-1]) + 1) % 10)
    other = net.pay("50.00", account=forged, name="张*伟", bank=CMB)
    net.job.tick()
    assert net.status(other) == "REJECTED"
    assert net.balance() == before
    assert net.verify() == []


def test_network_down_or_slow_debits_nothing_and_counts_nothing(net: Net) -> None:
    down = _sim(net, sim_unavailable=True)
    slow = _sim(net, sim_delay_seconds=0.01, send_timeout_seconds=0.01)

    def timed(call: str, outcome: str) -> float:
        return float(REGISTRY.get_sample_value(_SERIES, {"call": call, "outcome": outcome}) or 0)

    before = {o: timed("alias_lookup", o) for o in ("unavailable", "timeout")}
    for gateway in (down, slow):
        assert _refused(lambda gateway=gateway: _look_up(net, ZHANG_MOBILE, gateway)) == (
            "alias_network_unavailable"
        )
        assert _refused(lambda gateway=gateway: _payee(net, ZHANG_MOBILE, "张", gateway)) == (
            "alias_network_unavailable"
        )
    # Timed like the network's other calls, each by its outcome.
    assert timed("alias_lookup", "unavailable") == before["unavailable"] + 2
    assert timed("alias_lookup", "timeout") == before["timeout"] + 2
    assert _count(net, InterbankTransfer) == 0
    # Nothing was counted: all ten look-ups of the hour remain.
    for _ in range(aliases.LOOKUPS_PER_HOUR):
        _look_up(net, ZHANG_MOBILE)
    assert _refused(lambda: _look_up(net, ZHANG_MOBILE)) == "rate_limited"


def test_local_and_network_look_ups_share_the_hourly_limit(net: Net, settings: Settings) -> None:
    def register_alias(s: Session) -> str:
        payee = make_person(s, at=net.clock.now(), name="李娜", username="lina")
        s.add(
            aliases.MobileAlias(
                public_id="alias-lina",
                customer_id=payee.customer.id,
                mobile_hash=payee.customer.mobile_hash,
                account_id=payee.account.id,
                created_at=net.clock.now(),
            )
        )
        return str(payee.customer.mobile)

    local = run_write(net.db, register_alias)
    assert _look_up(net, local).via == "bank"
    half = aliases.LOOKUPS_PER_HOUR // 2
    for _ in range(half - 1):
        _look_up(net, local)
    for _ in range(half - 1):
        _look_up(net, ZHANG_MOBILE)
    assert _refused(lambda: _look_up(net, "13900009999")) == "alias_not_found"  # counted
    # The eleventh, at the network or here, is refused before anyone is asked.
    assert _refused(lambda: _payee(net, ZHANG_MOBILE, "张")) == "rate_limited"
    assert _refused(lambda: _look_up(net, local)) == "rate_limited"
    net.clock.advance(hours=1, seconds=1)
    assert _look_up(net, ZHANG_MOBILE).masked_name == "张*伟"


def test_concurrent_network_look_ups_are_each_counted_once(net: Net) -> None:
    outcomes: list[str] = []
    gateway = _sim(net)

    def look() -> None:
        try:
            _look_up(net, ZHANG_MOBILE, gateway)
            outcomes.append("found")
        except DomainError as error:
            outcomes.append(error.code)

    threads = [threading.Thread(target=look) for _ in range(aliases.LOOKUPS_PER_HOUR + 3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["found"] * aliases.LOOKUPS_PER_HOUR + ["rate_limited"] * 3


class _Watched:
    """The simulated network, noting what the bank holds each time it is asked: its
    database connections checked out, and (SQLite) whether its write lock is taken."""

    def __init__(self, net: Net) -> None:
        self.db = net.db
        self.real = _sim(net)
        self.held: list[tuple[int, bool]] = []

    def _note(self) -> None:
        lock = self.db.write_lock
        acquire = getattr(lock, "acquire", None)
        taken = False
        if acquire is not None:
            taken = not acquire(blocking=False)
            if not taken:
                lock.release()  # type: ignore[attr-defined]
        self.held.append((self.db.engine.pool.checkedout(), taken))  # type: ignore[attr-defined]

    def lookup_alias(self, mobile: str) -> object:
        self._note()
        return self.real.lookup_alias(mobile)

    def check_alias_name(self, reference: str, name: str) -> bool:
        self._note()
        return self.real.check_alias_name(reference, name)


def test_the_network_is_asked_outside_any_transaction(net: Net) -> None:
    """A slow network must hold no row, no pooled connection and no write lock of the bank
    while it takes its time: the look-up is counted and committed before it is asked."""
    watched = _Watched(net)
    shown = _look_up(net, ZHANG_MOBILE, watched)  # type: ignore[arg-type]
    payee = _payee(net, ZHANG_MOBILE, "张", watched)  # type: ignore[arg-type]
    assert shown.via == "ibps" and isinstance(payee, aliases.NetworkPayee)
    # look-up; look-up and name check: nothing held at any of the three.
    assert watched.held == [(0, False)] * 3
    # Both counted, once each: eight of the hour's ten remain.
    for _ in range(aliases.LOOKUPS_PER_HOUR - 2):
        _look_up(net, ZHANG_MOBILE)
    assert _refused(lambda: _look_up(net, ZHANG_MOBILE)) == "rate_limited"
