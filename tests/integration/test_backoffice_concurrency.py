"""Maker-checker under concurrency (issue 7 §1), on both databases: two supervisors
approving one pending command at the same moment execute it once. The command row is
locked in the approving transaction; the second approval finds it decided."""

from __future__ import annotations

import threading
from collections import Counter

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from factories import make_person
from wangyin.backoffice import service as backoffice
from wangyin.backoffice.models import Command, StaffUser
from wangyin.backoffice.service import CurrentStaff
from wangyin.clock import FrozenClock
from wangyin.config import Settings
from wangyin.db import Database
from wangyin.errors import DomainError
from wangyin.identity.models import User
from wangyin.ids import new_public_id
from wangyin.security.audit import Client, verify_chain
from wangyin.security.models import AuditRecord
from wangyin.uow import run_read, run_write

SETTINGS = Settings(database_url="sqlite://")
CHECKERS = 4


def _staff(s: Session, username: str, role: str, at: object) -> CurrentStaff:
    member = StaffUser(
        public_id=new_public_id(), username=username, name=username, role=role,
        status="active", password_hash="-", totp_last_step=0, failed_logins=0,
        created_at=at,
    )
    s.add(member)
    s.flush()
    return CurrentStaff(
        staff_id=member.id, public_id=member.public_id, username=username, name=username,
        role=role, session_id=0, csrf_token="", touch_due=False,
    )


def test_concurrent_approvals_execute_a_command_once(db: Database, clock: FrozenClock) -> None:
    at = clock.now()

    def setup(s: Session) -> tuple[str, str, list[CurrentStaff]]:
        person = make_person(s, at=at, edition="public")
        teller = _staff(s, "teller", "teller", at)
        checkers = [_staff(s, f"supervisor{i}", "supervisor", at) for i in range(CHECKERS)]
        command = backoffice.propose(
            s, customer_id=person.customer.public_id, kind="upgrade_professional",
            payload={"confirmation": "GM-1"}, reason="signed form kept", staff=teller,
            client=Client(), at=at, settings=SETTINGS,
        )
        return command.public_id, person.user.username, checkers

    command_id, username, checkers = run_write(db, setup)
    barrier = threading.Barrier(CHECKERS)
    outcomes: list[str] = []

    def approve(checker: CurrentStaff) -> None:
        barrier.wait(timeout=10)
        try:
            run_write(
                db,
                lambda s: backoffice.approve(
                    s, command_id=command_id, reason="form and ID checked", staff=checker,
                    client=Client(), at=at, settings=SETTINGS,
                ),
            )
            outcomes.append("executed")
        except DomainError as refusal:
            outcomes.append(refusal.code)

    threads = [threading.Thread(target=approve, args=(c,)) for c in checkers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert Counter(outcomes) == {"executed": 1, "command_not_pending": CHECKERS - 1}

    def after(s: Session) -> tuple[str, str, int, int, list[str]]:
        command = s.scalars(select(Command).where(Command.public_id == command_id)).one()
        edition = s.scalar(select(User.edition).where(User.username == username))
        executed = s.scalar(
            select(func.count()).where(AuditRecord.event == "command_executed")
        )
        upgraded = s.scalar(select(func.count()).where(AuditRecord.event == "edition_upgraded"))
        return command.status, str(edition), int(executed or 0), int(upgraded or 0), verify_chain(s)

    status, edition, executed, upgraded, problems = run_read(db, after)
    assert (status, edition, executed, upgraded, problems) == (
        "EXECUTED", "professional", 1, 1, []
    )
