"""The audit trail runs in independent chains, one per customer group, each verifiable."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from wangyin.clock import FrozenClock
from wangyin.db import Database
from wangyin.security import audit
from wangyin.security.crypto import sm3
from wangyin.security.keys import load_keyring, new_keyring, use_keyring
from wangyin.security.models import AuditRecord
from wangyin.uow import run_read, run_write
from wangyin.verify import verify_all


def _append(db: Database, clock: FrozenClock, customer_id: int | None, n: int) -> None:
    def action(s: Session) -> None:
        for i in range(n):
            audit.append(
                s,
                event="login",
                outcome="success",
                actor=f"c{customer_id}",
                at=clock.now(),
                customer_id=customer_id,
                details={"n": i},
            )

    run_write(db, action)


def test_customers_get_their_own_ordered_chains(db: Database, clock: FrozenClock) -> None:
    """4.1.4-d/e: customers 1 and 2 land in chains 1 and 2, events without a customer in
    chain 0; each chain counts 1, 2, 3 … and the whole trail verifies."""
    _append(db, clock, 1, 3)
    _append(db, clock, 2, 2)
    _append(db, clock, None, 1)
    _append(db, clock, 1 + audit.CHAINS, 1)  # shares customer 1's chain
    chains = run_read(
        db,
        lambda s: dict(
            s.execute(
                select(AuditRecord.chain, func.max(AuditRecord.seq)).group_by(AuditRecord.chain)
            ).all()
        ),
    )
    assert chains == {0: 1, 1: 4, 2: 2}
    assert run_read(db, audit.verify_chain) == []


def test_removing_the_last_record_of_one_chain_is_detected(
    db: Database, clock: FrozenClock
) -> None:
    _append(db, clock, 1, 2)
    _append(db, clock, 2, 2)
    run_write(
        db, lambda s: s.execute(text("DELETE FROM audit_records WHERE chain = 2 AND seq = 2"))
    )
    problems = run_read(db, audit.verify_chain)
    assert any("head does not match" in p and "chain 2" in p for p in problems)


# --- every field in the hash; a keyed chain (issue 11 #8) ----------------------------------

# One edit per stored field of a record, as someone with write access to the database would
# make it: (column, SQL expression giving the new value).
FIELD_EDITS = {
    "outcome": "'failure'",
    "event": "'password_changed'",
    "actor": "'someone-else'",
    "details": '\'{"amount":"0.01"}\'',
    "customer_id": "customer_id + 16",  # another customer of the same chain
    "ip": "'192.0.2.66'",
    "device_id": "'stolen-device'",
    "client": "'api | | curl'",
}


def _trail(db: Database, clock: FrozenClock, customer_id: int = 2) -> None:
    for n, amount in enumerate(("1500.00", "20.00", "7.00")):
        clock.advance(seconds=5)

        def action(s: Session, n: int = n, amount: str = amount) -> None:
            audit.append(
                s,
                event="transfer_confirmed",
                outcome="success",
                actor="u-zhangwei",
                at=clock.now(),
                client=audit.Client(ip="198.51.100.4", device_id="phone-1", client_type="api"),
                customer_id=customer_id,
                details={"amount": amount, "n": n},
            )

        run_write(db, action)
    assert run_read(db, audit.verify_chain) == []


@pytest.mark.parametrize("column", [*FIELD_EDITS, "at"])
def test_every_field_of_a_record_is_in_its_hash(
    db: Database, clock: FrozenClock, column: str
) -> None:
    """4.1.4-d/e: editing any one stored field of a record (outcome, event, actor, details,
    at, customer_id, ip, device_id, client) makes `verify` name that record."""
    _trail(db, clock)
    if column == "at":
        # The same instant written one second later (no dialect's date arithmetic needed).
        later = run_read(
            db, lambda s: s.scalars(select(AuditRecord.at).where(AuditRecord.seq == 2)).one()
        ) + timedelta(seconds=1)
        run_write(
            db,
            lambda s: s.execute(update(AuditRecord).where(AuditRecord.seq == 2).values(at=later)),
        )
    else:
        run_write(
            db,
            lambda s: s.execute(
                text(f"UPDATE audit_records SET {column} = {FIELD_EDITS[column]} WHERE seq = 2")  # noqa: S608
            ),
        )
    problems = run_read(db, audit.verify_chain)
    assert "audit record 2 was altered (chain 2)" in problems, (column, problems)


def _rechain_without_the_key(s: Session, *, chain: int, from_seq: int) -> None:
    """What an attacker with only the database does after an edit: recompute every hash
    from the edited record to the head with the published algorithm (SM3 over the record's
    canonical form), and move the head along."""
    records = s.scalars(
        select(AuditRecord)
        .where(AuditRecord.chain == chain, AuditRecord.seq >= from_seq)
        .order_by(AuditRecord.seq)
    ).all()
    prev = audit.GENESIS
    if from_seq > 1:
        prev = s.scalars(
            select(AuditRecord.hash).where(
                AuditRecord.chain == chain, AuditRecord.seq == from_seq - 1
            )
        ).one()
    for record in records:
        record.prev_hash = prev
        record.hash = sm3(audit._canonical(record)).hex()
        prev = record.hash
    s.flush()
    s.execute(
        text("UPDATE audit_head SET seq = :seq, hash = :h WHERE id = :id"),
        {"seq": records[-1].seq, "h": prev, "id": chain + 1},
    )


def test_a_confirmed_amount_edited_and_rechained_without_the_key_fails_verify(
    db: Database, clock: FrozenClock
) -> None:
    """Issue 11 #8: a confirmed 1500.00 changed to 0.01 and the chain recomputed (SM3, the
    published algorithm) passed `verify`. The chain is keyed (HMAC-SM3 under a keyring key
    outside the database), so the recomputed hashes do not verify."""
    _trail(db, clock)

    def edit(s: Session) -> None:
        s.execute(
            text("UPDATE audit_records SET details = :d WHERE chain = 2 AND seq = 1"),
            {"d": '{"amount":"0.01","n":0}'},
        )
        _rechain_without_the_key(s, chain=2, from_seq=1)

    run_write(db, edit)
    problems = run_read(db, audit.verify_chain)
    assert "audit record 1 was altered (chain 2)" in problems, problems


def test_a_chain_rekeyed_under_a_key_of_ones_own_fails_verify(
    db: Database, clock: FrozenClock
) -> None:
    """The attacker's own key (any keyring but the bank's) does not verify either."""
    _trail(db, clock)
    bank_ring = load_keyring()
    use_keyring(new_keyring())
    try:

        def forge(s: Session) -> None:
            prev = audit.GENESIS
            for record in s.scalars(
                select(AuditRecord).where(AuditRecord.chain == 2).order_by(AuditRecord.seq)
            ):
                if record.seq == 1:
                    record.outcome = "failure"
                record.prev_hash = prev
                record.hash = audit.record_hash(record)
                prev = record.hash
            s.flush()
            s.execute(text("UPDATE audit_head SET hash = :h WHERE id = 3"), {"h": prev})

        run_write(db, forge)
    finally:
        use_keyring(bank_ring)
    problems = run_read(db, audit.verify_chain)
    assert "audit record 1 was altered (chain 2)" in problems, problems


# --- the heads anchored outside the database -----------------------------------------------


def test_removing_the_newest_records_and_rolling_the_head_back_is_caught_by_the_checkpoint(
    db: Database, clock: FrozenClock, tmp_path: Path
) -> None:
    """With the database alone, deleting the newest records of a chain and moving its head
    back leaves a chain that verifies (every remaining hash is the bank's). The signed
    checkpoint file written by `verify` (outside the database) remembers the head."""
    _trail(db, clock)
    checkpoint = tmp_path / "audit-checkpoint.json"
    assert verify_all(db, checkpoint=checkpoint).problems == []
    saved = json.loads(checkpoint.read_text())
    assert saved["chains"]["2"]["seq"] == 3

    def truncate(s: Session) -> None:
        second = s.scalars(
            select(AuditRecord.hash).where(AuditRecord.chain == 2, AuditRecord.seq == 2)
        ).one()
        s.execute(text("DELETE FROM audit_records WHERE chain = 2 AND seq = 3"))
        s.execute(text("UPDATE audit_head SET seq = 2, hash = :h WHERE id = 3"), {"h": second})

    run_write(db, truncate)
    assert run_read(db, audit.verify_chain) == []  # the database alone cannot tell
    problems = verify_all(db, checkpoint=checkpoint).problems
    assert any("chain 2" in p and "checkpoint" in p for p in problems), problems
    # A failing verify leaves the checkpoint as it was: the evidence stays.
    assert json.loads(checkpoint.read_text()) == saved


def test_a_checkpoint_edited_without_the_key_is_refused(
    db: Database, clock: FrozenClock, tmp_path: Path
) -> None:
    _trail(db, clock)
    checkpoint = tmp_path / "audit-checkpoint.json"
    assert verify_all(db, checkpoint=checkpoint).problems == []
    forged = json.loads(checkpoint.read_text())
    forged["chains"]["2"]["seq"] = 1
    checkpoint.write_text(json.dumps(forged))
    problems = verify_all(db, checkpoint=checkpoint).problems
    assert any("checkpoint" in p and "signature" in p for p in problems), problems


def test_verify_moves_the_checkpoint_forward_when_all_is_well(
    db: Database, clock: FrozenClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`wangyin verify` with WANGYIN_AUDIT_CHECKPOINT set compares, then records the new
    heads; the file is private (0600)."""
    from typer.testing import CliRunner

    from wangyin.cli import app

    checkpoint = tmp_path / "anchor" / "audit-checkpoint.json"
    monkeypatch.setenv("WANGYIN_AUDIT_CHECKPOINT", str(checkpoint))
    monkeypatch.setenv("WANGYIN_DATABASE_URL", db.engine.url.render_as_string(hide_password=False))
    _trail(db, clock)
    assert CliRunner().invoke(app, ["verify"]).exit_code == 0
    assert json.loads(checkpoint.read_text())["chains"]["2"]["seq"] == 3
    assert checkpoint.stat().st_mode & 0o777 == 0o600
    _trail(db, clock)
    assert CliRunner().invoke(app, ["verify"]).exit_code == 0
    assert json.loads(checkpoint.read_text())["chains"]["2"]["seq"] == 6
