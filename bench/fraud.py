"""Micro-benchmark of the anti-fraud engine's CPU per transfer (issue 7 §4: at most 2 ms).

Measures, with `time.process_time` over many calls, what the engine adds to a transfer
in the server process once its one statement's rows are back: the features from the
rows, every rule and the decision, the anomaly score over a 50-tree forest (a customer
with a model: the expensive case), and the counters' upsert values (queued with the
commit). The database's share (one more statement in a round trip the path already
makes) is the statement-budget test's business, not this one's.

    .venv/bin/python bench/fraud.py [--calls 20000]
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from wangyin.fraud import engine, model

AT = datetime(2026, 3, 2, 19, 0, tzinfo=UTC)


class _Session:
    """Just what `record_transfer` touches: the deferred-write list and the dialect."""

    def __init__(self) -> None:
        self.info: dict[str, Any] = {}

    def get_bind(self) -> Any:
        return SimpleNamespace(dialect=SimpleNamespace(name="postgresql"))


def _rows() -> list[Any]:
    counters = {
        "out_hour_start": AT.replace(minute=0),
        "out_hour_count": 2,
        "out_day": "2026-03-03",
        "out_day_count": 4,
        "out_day_sum": 12_000_00,
        "out_day_near": 0,
        "in_day": "2026-03-03",
        "in_payers": ",".join(str(i) for i in range(30, 40)),
        "last_inflow_minor": 60_000_00,
        "last_inflow_at": AT - timedelta(hours=3),
        "payees": ",".join(str(i) for i in range(100, 150)),
        "updated_at": AT,
    }
    common = {
        "listed": 0,
        "rules_version": None,
        "model_version": 1,
        "device_bound_at": AT - timedelta(hours=2),
    }
    return [
        SimpleNamespace(account_id=1, **counters, **common),
        SimpleNamespace(account_id=2, **counters, **common),
    ]


def _forest() -> None:
    rng = random.Random(1)
    history = [
        model.features_of(
            amount_cny=rng.randint(10_00, 3_000_00),
            at=AT + timedelta(hours=rng.randint(0, 12)),
            new_payee=rng.random() < 0.1,
        )
        for _ in range(300)
    ]
    trees = model.train(history, seed=1)
    if trees is None:
        raise SystemExit("no model trained")
    model.remember(7, 1, model.load(trees))


def measure(calls: int) -> dict[str, float]:
    _forest()
    rows = _rows()
    session: Any = _Session()
    results = {}

    def per_call(step: Any) -> float:
        start = time.process_time()
        for _ in range(calls):
            step()
        return (time.process_time() - start) / calls * 1e6

    def assess() -> engine.TransferCheck:
        return engine.assess_transfer(
            session,
            rows=rows,
            customer_id=7,
            from_account_id=1,
            to_account_id=2,
            amount_cny=6_000_00,
            to_own=False,
            at=AT,
        )

    check = assess()
    if check.decision.score is None:
        raise SystemExit("the model was not used")

    def record() -> None:
        engine.record_transfer(
            session, check, from_account_id=1, to_account_id=2, amount_cny=6_000_00, at=AT
        )
        engine.record_event(session, kind="transfer", customer_id=7, decision=check.decision, at=AT)
        session.info.clear()

    forest = model.cached(7, 1)
    if forest is None:
        raise SystemExit("the model is not cached")
    x = model.features_of(amount_cny=6_000_00, at=AT, new_payee=True)
    results["anomaly score alone (50 trees)"] = per_call(lambda: forest.score(x))
    results["assess_transfer (features, 11 rules, score, decision)"] = per_call(assess)
    results["record_transfer + record_event (upsert values queued)"] = per_call(record)
    results["engine total per transfer"] = (
        results["assess_transfer (features, 11 rules, score, decision)"]
        + results["record_transfer + record_event (upsert values queued)"]
    )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000)
    args = parser.parse_args()
    for name, micros in measure(args.calls).items():
        print(f"{name:58s} {micros:8.1f} µs CPU per call")
    print("budget: 2000 µs (issue 7 §4)")


if __name__ == "__main__":
    main()
