"""Demo starts (5.2.3-d) on SQLite and PostgreSQL: counted per IP in the shared rate-limit
table, refused past the limit until the window ends, each IP on its own; a start writes
nothing else."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from conftest import T0
from wangyin.clock import FrozenClock
from wangyin.config import Settings
from wangyin.db import Database
from wangyin.demo import actions, service
from wangyin.errors import DomainError
from wangyin.ledger.models import JournalEntry
from wangyin.runtime import AppState
from wangyin.security.ratelimit import RateLimitCounter
from wangyin.uow import run_read


def test_starts_are_counted_per_ip_until_the_window_ends(db: Database) -> None:
    clock = FrozenClock(T0)
    state = AppState(settings=Settings(), db=db, clock=clock)
    for _ in range(service.STARTS_PER_IP):
        token, demo = actions.start(state, ip="192.0.2.7")
        assert service.resolve(token=token, settings=state.settings, at=clock.now()) == demo
    with pytest.raises(DomainError) as refused:
        actions.start(state, ip="192.0.2.7")
    assert refused.value.code == "rate_limited"
    actions.start(state, ip="192.0.2.8")  # another address is not held back
    clock.advance(seconds=service.STARTS_WINDOW_SECONDS)
    actions.start(state, ip="192.0.2.7")
    counters = run_read(db, lambda s: s.scalar(select(func.count(RateLimitCounter.key))))
    assert counters == 2
    assert run_read(db, lambda s: s.scalar(select(func.count(JournalEntry.id)))) == 0
