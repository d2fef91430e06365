"""The anomaly score: a customer's own IsolationForest (scikit-learn), trained by a job
(`fraud.tasks`) and exported as plain arrays, scored here in pure Python at transfer time.

Never a pickle: the stored form is JSON, per tree `[feature, threshold, left, right,
n_node_samples]` lists (left = -1 at a leaf). Scoring walks each tree (a few hundred node
visits for 50 trees) and follows scikit-learn's formula, so the score equals
`-IsolationForest.score_samples` (tests/unit/test_fraud_model.py checks it), then scales it
to 0-100: about 50 is ordinary, near 100 is unlike anything the customer did before."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from wangyin.clock import BANK_TZ, as_utc

MIN_HISTORY = 20  # fewer completed transfers: no model, the rule is skipped
TREES = 50
MAX_SAMPLES = 64
_EULER = 0.5772156649015329


def features_of(*, amount_cny: int, at: datetime, new_payee: bool) -> list[float]:
    """One transfer as the model sees it: log amount, Beijing hour, first payment."""
    hour = as_utc(at).astimezone(BANK_TZ).hour
    return [math.log1p(amount_cny / 100), float(hour), 1.0 if new_payee else 0.0]


def average_path_length(n: int) -> float:
    """c(n): the mean path length of an unsuccessful search in a binary search tree."""
    if n <= 1:
        return 0.0
    if n == 2:
        return 1.0
    return 2.0 * (math.log(n - 1.0) + _EULER) - 2.0 * (n - 1.0) / n


@dataclass(frozen=True)
class Forest:
    """The exported trees: per tree, parallel lists indexed by node."""

    trees: list[tuple[list[int], list[float], list[int], list[int], list[int]]]
    max_samples: int

    def score(self, x: list[float]) -> int:
        """0-100 (`-score_samples` x 100, rounded)."""
        return round(100 * self.raw(x))

    def raw(self, x: list[float]) -> float:
        """scikit-learn's `-score_samples(x)`: 2 ** -(mean path length / c(max_samples))."""
        depths = 0.0
        for feature, threshold, left, right, samples in self.trees:
            node = 0
            depth = 0
            while left[node] != -1:
                node = left[node] if x[feature[node]] <= threshold[node] else right[node]
                depth += 1
            depths += depth + average_path_length(samples[node])
        denominator = len(self.trees) * average_path_length(self.max_samples)
        return float(2.0 ** (-depths / denominator))


def export(forest: Any) -> str:
    """A fitted sklearn IsolationForest as JSON arrays (what `load` reads back)."""
    trees = []
    for estimator, features in zip(forest.estimators_, forest.estimators_features_, strict=True):
        tree = estimator.tree_
        # Map the estimator's feature index back to the full feature vector.
        feature = [int(features[f]) if f >= 0 else -1 for f in tree.feature.tolist()]
        trees.append(
            [
                feature,
                [float(t) for t in tree.threshold.tolist()],
                [int(c) for c in tree.children_left.tolist()],
                [int(c) for c in tree.children_right.tolist()],
                [int(n) for n in tree.n_node_samples.tolist()],
            ]
        )
    return json.dumps({"max_samples": int(forest.max_samples_), "trees": trees})


def load(text: str) -> Forest:
    data = json.loads(text)
    return Forest(
        trees=[(t[0], t[1], t[2], t[3], t[4]) for t in data["trees"]],
        max_samples=int(data["max_samples"]),
    )


def train(samples: list[list[float]], *, seed: int = 0) -> str | None:
    """Fit a forest on a customer's transfers; None when there are too few of them."""
    if len(samples) < MIN_HISTORY:
        return None
    from sklearn.ensemble import IsolationForest  # the worker's import, not the web's

    forest = IsolationForest(
        n_estimators=TREES, max_samples=min(MAX_SAMPLES, len(samples)), random_state=seed
    )
    forest.fit(samples)
    return export(forest)


# Per process: customer id -> (model version, forest). A transfer reads the customer's
# newest version in its one statement; the trees are loaded only when that changes.
_CACHE: dict[int, tuple[int, Forest]] = {}
_CACHE_MAX = 10_000


def cached(customer_id: int, version: int) -> Forest | None:
    entry = _CACHE.get(customer_id)
    return entry[1] if entry is not None and entry[0] == version else None


def forget(customer_id: int) -> None:
    """A new model stored by this process: the next transfer loads it."""
    _CACHE.pop(customer_id, None)


def remember(customer_id: int, version: int, forest: Forest) -> None:
    if len(_CACHE) >= _CACHE_MAX:
        _CACHE.pop(next(iter(_CACHE)))
    _CACHE[customer_id] = (version, forest)
