"""The anti-fraud engine on transfers to other banks (issue 7 §4): the same rules as at our
bank, read in the confirm's own round trip. Money that has reached the network cannot be
held back, so a "hold" is refused like a block (texted, a case opened, nothing debited);
step-up asks the second factor even for a password-free amount."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from factories import available
from integration.test_clearing import Net, net  # noqa: F401 - the fixture
from integration.test_interbank_sql import _confirm
from wangyin.clearing.models import InterbankTransfer
from wangyin.errors import DomainError
from wangyin.identity.models import User
from wangyin.notify import service as notify
from wangyin.risk import service as risk
from wangyin.risk.models import RiskCase
from wangyin.uow import run_read, run_write

PAYEE = "6214830000001234"


def _password_free(n: Net) -> None:
    run_write(
        n.db,
        lambda s: s.execute(
            update(User)
            .where(User.id == n.payer.user.id)
            .values(password_free_single_minor=10_000_00, password_free_daily_minor=50_000_00)
        ),
    )


def _status(n: Net, tid: str) -> str:
    return run_read(
        n.db,
        lambda s: s.scalars(
            select(InterbankTransfer.status).where(InterbankTransfer.public_id == tid)
        ).one(),
    )


def test_a_listed_payee_account_at_another_bank_is_refused_and_nothing_leaves(
    net: Net,  # noqa: F811 - the fixture imported above
) -> None:
    _password_free(net)
    run_write(
        net.db,
        lambda s: risk.add_entry(
            s, kind="card", value=PAYEE, reason="mule account", staff_id="test",
            at=net.clock.now(),
        ),
    )
    before = run_read(net.db, lambda s: available(s, net.payer.account))
    tid = net.prepare("100.00", account=PAYEE)
    with pytest.raises(DomainError) as refused:
        _confirm(net, tid)
    assert refused.value.code == "operation_refused"
    assert run_read(net.db, lambda s: available(s, net.payer.account)) == before
    assert _status(net, tid) != "WAITING"
    cases = run_read(
        net.db,
        lambda s: list(s.scalars(select(RiskCase.kind).where(
            RiskCase.customer_id == net.payer.customer.id))),
    )
    assert "blacklist_hit" in cases
    phone = net.payer.customer.mobile
    texts = run_read(
        net.db, lambda s: [notify.body_of(m) for m in notify.messages_to(s, phone=phone)]
    )
    assert any("1234" in t for t in texts)  # the payer hears of it, the tail named


def test_velocity_asks_the_second_factor_even_for_a_password_free_amount(
    net: Net,  # noqa: F811 - the fixture imported above
) -> None:
    """Five password-free payments in an hour pass; the sixth (velocity: more than five
    this hour, 40 points) needs the PIN and a code, and the rule counts inter-bank
    payments on the same counters as payments at our bank."""
    _password_free(net)
    for _ in range(5):
        tid = net.prepare("1.00", account=PAYEE)
        _confirm(net, tid)
        assert _status(net, tid) == "WAITING"
    sixth = net.prepare("1.00", account=PAYEE)
    with pytest.raises(DomainError) as asked:
        _confirm(net, sixth)
    assert asked.value.code == "transaction_password_required"
    assert _status(net, sixth) != "WAITING"
    net.confirm(sixth)  # the PIN and the SMS code
    assert _status(net, sixth) == "WAITING"
