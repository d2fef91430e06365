"""The anomaly model's exported trees score in pure Python exactly as scikit-learn does,
and fast enough for the transfer path (issue 7 §4: a few hundred node visits, < 2 ms)."""

from __future__ import annotations

import json
import math
import random
from datetime import UTC, datetime

import pytest

from wangyin.fraud import model


def _history(n: int = 200) -> list[list[float]]:
    rng = random.Random(7)
    rows = []
    for _ in range(n):
        amount = rng.choice([50_00, 120_00, 300_00, 1_000_00]) + rng.randint(0, 5_000)
        at = datetime(2026, 3, 2, rng.randint(1, 12), 0, tzinfo=UTC)  # 09:00-20:00 Beijing
        rows.append(model.features_of(amount_cny=amount, at=at, new_payee=rng.random() < 0.05))
    return rows


def test_pure_python_scores_equal_scikit_learns() -> None:
    from sklearn.ensemble import IsolationForest

    samples = _history()
    fitted = IsolationForest(n_estimators=model.TREES, max_samples=64, random_state=3)
    fitted.fit(samples)
    forest = model.load(model.export(fitted))
    probes = [
        *samples[:20],
        model.features_of(
            amount_cny=60_000_00, at=datetime(2026, 3, 2, 19, 0, tzinfo=UTC), new_payee=True
        ),
    ]
    expected = [-s for s in fitted.score_samples(probes).tolist()]
    assert [forest.raw(p) for p in probes] == pytest.approx(expected, abs=1e-12)


def test_the_stored_form_is_plain_json_arrays_not_a_pickle() -> None:
    text = model.train(_history(), seed=1)
    assert text is not None
    data = json.loads(text)
    assert data["max_samples"] == model.MAX_SAMPLES
    feature, threshold, left, right, samples = data["trees"][0]
    assert len(feature) == len(threshold) == len(left) == len(right) == len(samples)
    assert all(isinstance(v, int) for v in left + right + samples)


def test_an_unusual_transfer_scores_higher_than_a_usual_one() -> None:
    forest = model.load(model.train(_history(), seed=1) or "")
    usual = model.features_of(
        amount_cny=120_00, at=datetime(2026, 3, 2, 4, 0, tzinfo=UTC), new_payee=False
    )
    odd = model.features_of(
        amount_cny=60_000_00, at=datetime(2026, 3, 2, 19, 0, tzinfo=UTC), new_payee=True
    )
    assert forest.score(odd) > forest.score(usual)
    assert forest.score(odd) >= 60


def test_too_little_history_gives_no_model() -> None:
    assert model.train(_history(model.MIN_HISTORY - 1)) is None


def test_scoring_visits_a_bounded_number_of_nodes() -> None:
    """What keeps a score far under the engine's 2 ms (measured in bench/fraud.py, never
    timed here): at most TREES trees, each no deeper than log2(MAX_SAMPLES), so a score
    walks a few hundred nodes whatever the customer's history."""
    forest = model.load(model.train(_history(), seed=1) or "")
    assert len(forest.trees) == model.TREES

    def depth(left: list[int], right: list[int], node: int = 0) -> int:
        if left[node] == -1:
            return 0
        return 1 + max(depth(left, right, left[node]), depth(left, right, right[node]))

    limit = math.ceil(math.log2(model.MAX_SAMPLES))
    deepest = max(depth(left, right) for _, _, left, right, _ in forest.trees)
    assert deepest <= limit
    assert len(forest.trees) * limit <= 400
