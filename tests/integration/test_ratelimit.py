"""Rate-limit counters in the database, on SQLite and PostgreSQL: the limit holds, windows
end on the clock, keys are independent, and concurrent hits are each counted once."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from conftest import T0
from wangyin.config import Settings
from wangyin.db import Database
from wangyin.errors import DomainError
from wangyin.security.ratelimit import RateLimitCounter, hit, limit_account, limit_ip, purge
from wangyin.uow import run_read, run_write


def try_hit(db: Database, key: str, *, limit: int = 3, window: int = 60, at=T0) -> int | None:  # type: ignore[no-untyped-def]
    """None when allowed, else the Retry-After seconds of the refusal."""
    try:
        run_write(db, lambda s: hit(s, key=key, limit=limit, window_seconds=window, at=at))
    except DomainError as exc:
        assert exc.code == "rate_limited"
        assert exc.status == 429
        return int(exc.params["retry_after"])
    return None


def test_the_hit_past_the_limit_is_refused_until_the_window_ends(db: Database) -> None:
    assert [try_hit(db, "ip:login:192.0.2.1", at=T0 + timedelta(seconds=i)) for i in range(3)] == [
        None,
        None,
        None,
    ]
    # The window started at the first hit: 60 s from T0.
    assert try_hit(db, "ip:login:192.0.2.1", at=T0 + timedelta(seconds=20)) == 40
    assert try_hit(db, "ip:login:192.0.2.1", at=T0 + timedelta(seconds=59.5)) == 1
    # Refusals do not push the window out: at 60 s a new window begins.
    assert try_hit(db, "ip:login:192.0.2.1", at=T0 + timedelta(seconds=60)) is None
    assert try_hit(db, "ip:login:192.0.2.1", at=T0 + timedelta(seconds=61)) is None
    assert try_hit(db, "ip:login:192.0.2.1", at=T0 + timedelta(seconds=62)) is None
    assert try_hit(db, "ip:login:192.0.2.1", at=T0 + timedelta(seconds=63)) == 57


def test_keys_are_counted_separately(db: Database) -> None:
    for _ in range(3):
        assert try_hit(db, "ip:login:192.0.2.1") is None
    assert try_hit(db, "ip:login:192.0.2.1") is not None
    assert try_hit(db, "ip:login:192.0.2.2") is None
    assert try_hit(db, "ip:register:192.0.2.1") is None


def test_a_refused_hit_leaves_the_count_at_the_limit(db: Database) -> None:
    for _ in range(5):
        try_hit(db, "k", limit=2)
    count = run_read(db, lambda s: s.scalar(select(RateLimitCounter.count)))
    assert count == 2


def test_concurrent_hits_are_each_counted_once(db: Database) -> None:
    threads, per_thread, limit = 8, 10, 25
    outcomes: list[int | None] = []
    lock = threading.Lock()
    barrier = threading.Barrier(threads)

    def worker() -> None:
        barrier.wait()
        for _ in range(per_thread):
            result = try_hit(db, "ip:code:198.51.100.9", limit=limit, window=600)
            with lock:
                outcomes.append(result)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    assert len(outcomes) == threads * per_thread
    assert outcomes.count(None) == limit
    assert run_read(db, lambda s: s.scalar(select(RateLimitCounter.count))) == limit


def test_purge_removes_only_ended_windows(db: Database) -> None:
    try_hit(db, "short", window=10)
    try_hit(db, "long", window=3600)
    removed = run_write(db, lambda s: purge(s, at=T0 + timedelta(seconds=10)))
    assert removed == 1
    keys = run_read(db, lambda s: s.scalars(select(RateLimitCounter.key)).all())
    assert keys == ["long"]


def test_limit_account_counts_per_customer_and_action(db: Database, settings: Settings) -> None:
    settings = settings.model_copy(
        update={"ratelimit_code_per_account": 2, "ratelimit_code_account_window_seconds": 300}
    )

    def code(user_id: int, at=T0) -> None:  # type: ignore[no-untyped-def]
        run_write(
            db,
            lambda s: limit_account(s, user_id=user_id, action="code", at=at, settings=settings),
        )

    code(1)
    code(1)
    with pytest.raises(DomainError) as refused:
        code(1)
    assert refused.value.code == "rate_limited"
    assert refused.value.params["retry_after"] == 300
    code(2)  # another customer
    run_write(  # another action
        db, lambda s: limit_account(s, user_id=1, action="login", at=T0, settings=settings)
    )
    code(1, at=T0 + timedelta(seconds=300))  # the next window


def test_limit_ip_follows_settings_and_can_be_switched_off(
    db: Database, settings: Settings
) -> None:
    strict = settings.model_copy(update={"ratelimit_register_per_ip": 1})
    run_write(db, lambda s: limit_ip(s, ip="203.0.113.5", rule="register", at=T0, settings=strict))
    with pytest.raises(DomainError):
        run_write(
            db, lambda s: limit_ip(s, ip="203.0.113.5", rule="register", at=T0, settings=strict)
        )
    off = strict.model_copy(update={"ratelimit_enabled": False})
    run_write(db, lambda s: limit_ip(s, ip="203.0.113.5", rule="register", at=T0, settings=off))
    total = run_read(db, lambda s: s.scalar(select(func.count()).select_from(RateLimitCounter)))
    assert total == 1
