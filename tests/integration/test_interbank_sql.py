"""The inter-bank path in explicit SQL keeps the rules it shares with the intra-bank one
(issue 10 §4 on issue 6 §1), on SQLite and PostgreSQL: the limits and day counters
decided under the customer's lock, the class II/III counters decided under the account's
ledger lock, each confirm's clearing sub-account chosen by its id (no row every payment
writes), and the payer's SMS in the language of the request."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from factories import Person, make_account
from factories.fraud import rules_out_of_reach
from integration.test_clearing import Net, _refusal, net  # noqa: F401 - the fixture
from wangyin.accounts.models import Account
from wangyin.clearing import service as clearing
from wangyin.db import Database
from wangyin.errors import DomainError
from wangyin.identity.models import User
from wangyin.ledger import service as ledger
from wangyin.ledger.models import JournalEntry, LedgerAccount, Posting
from wangyin.notify import service as notify
from wangyin.security.audit import Client
from wangyin.uow import run_read, run_write


def _password_free(db: Database, person: Person, **limits: int) -> None:
    """Password-free payments, and the anti-fraud engine's decisions out of reach: these
    tests make many payments an hour from one customer (velocity by design) and are about
    locks, counters and sub-accounts, not about fraud rules."""

    def build(s: Session) -> None:
        s.execute(
            update(User)
            .where(User.id == person.user.id)
            .values(password_free_single_minor=1000_00, password_free_daily_minor=5000_00, **limits)
        )
        rules_out_of_reach(s, at=datetime.now(UTC))

    run_write(db, build)


def _confirm(n: Net, tid: str, *, language: str = "zh") -> None:
    """Password-free: no factor."""
    run_write(
        n.db,
        lambda s: clearing.confirm(
            s,
            customer_id=n.payer.customer.id,
            transfer_id=tid,
            key_digest=None,
            transaction_password=None,
            code=None,
            acknowledged=True,
            at=n.clock.now(),
            settings=n.settings,
            clearing=n.clearing,
            client=Client(language=language),
        ),
    )


def test_the_daily_limit_is_decided_under_the_customer_lock(
    net: Net,  # noqa: F811 - the fixture imported above
) -> None:
    """Two transfers prepared while the day was empty, confirmed at once: the limit
    leaves room for one, and exactly one is debited."""
    _password_free(net.db, net.payer, daily_limit_minor=1000_00)
    tids = [net.prepare("600.00") for _ in range(2)]
    before = net.balance()
    outcomes: list[str] = []

    def confirm(tid: str) -> None:
        try:
            _confirm(net, tid)
            outcomes.append("done")
        except DomainError as exc:
            outcomes.append(exc.code)

    threads = [threading.Thread(target=confirm, args=(tid,)) for tid in tids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["done", "over_daily_limit"]
    assert before - net.balance() == 600_00
    assert sorted(net.status(t) for t in tids) == ["CHALLENGE_PENDING", "WAITING"]
    day_total = run_read(
        net.db,
        lambda s: s.scalar(select(User.day_total_cny_minor).where(User.id == net.payer.user.id)),
    )
    assert day_total == 600_00
    assert net.verify() == []


def test_a_class_ii_account_pays_other_banks_within_its_day(
    net: Net,  # noqa: F811 - the fixture imported above
) -> None:
    """Class II: 1万 a day to accounts not bound to it; another bank's account never is.
    Both transfers pass prepare (nothing counted yet); the second confirm is refused on
    the counter the first wrote under the account's ledger lock."""

    def build(s: Session) -> Account:
        account = make_account(s, net.payer.customer, at=net.clock.now(), balance_minor=50_000_00)
        account.account_class = "II"
        account.bound_account_id = net.payer.account.id
        s.flush()
        return account

    ii = run_write(net.db, build)
    paying = replace(net, payer=replace(net.payer, account=ii))
    first, second = paying.prepare("6000.00"), paying.prepare("6000.00")
    paying.confirm(first)
    assert _refusal(lambda: paying.confirm(second)) == "class_limit"
    assert paying.status(second) == "CHALLENGE_PENDING"
    assert _refusal(lambda: paying.prepare("4000.01")) == "class_limit"
    counted = run_read(
        net.db, lambda s: s.scalar(select(Account.class_day_out_minor).where(Account.id == ii.id))
    )
    assert counted == 6000_00
    assert paying.verify() == []


def test_each_confirm_credits_the_clearing_sub_account_its_id_chooses(
    net: Net,  # noqa: F811 - the fixture imported above
) -> None:
    _password_free(net.db, net.payer)
    tids = [net.prepare("1.00") for _ in range(8)]
    for tid in tids:
        _confirm(net, tid)

    def credited(s: Session) -> dict[str, str]:
        rows = s.execute(
            select(JournalEntry.idempotency_key, LedgerAccount.code)
            .join(Posting, Posting.entry_id == JournalEntry.id)
            .join(LedgerAccount, LedgerAccount.id == Posting.ledger_account_id)
            .where(JournalEntry.idempotency_key.like("interbank:%:debit"), Posting.amount_minor > 0)
        )
        return {key.split(":")[1]: code for key, code in rows}

    found = run_read(net.db, credited)
    shards = net.settings.bank_account_shards
    assert found == {
        tid: ledger.bank_account_code("CLEARING", "CNY", ledger.shard_of(tid, shards))
        for tid in tids
    }
    assert len(set(found.values())) > 1  # spread over rows, not queued on one


def test_the_payer_hears_of_the_debit_in_the_language_of_the_request(
    net: Net,  # noqa: F811 - the fixture imported above
) -> None:
    _password_free(net.db, net.payer)
    phone = net.payer.customer.mobile

    def last_text() -> str:
        return run_read(
            net.db, lambda s: notify.body_of(notify.messages_to(s, phone=phone, limit=1)[0])
        )

    tail = net.payer.account.account_number[-4:]
    _confirm(net, net.prepare("12.00"))
    assert tail in last_text() and "12.00" in last_text() and "余额" in last_text()
    _confirm(net, net.prepare("13.00"), language="en")
    assert last_text().startswith(f"Your account ending {tail} paid out 13.00 CNY")
