"""The score distribution as a small server-drawn SVG bar chart (no script, no inline
style: presentation attributes only, so the CSP holds); the page shows the same numbers
in a table beside it."""

from __future__ import annotations

from dataclasses import dataclass

WIDTH = 400
HEIGHT = 160
BASELINE = 140


@dataclass(frozen=True)
class Bar:
    label: str
    count: int
    x: int
    y: int
    width: int
    height: int


def score_chart(buckets: list[tuple[str, int]]) -> list[Bar]:
    """One bar per score bucket, scaled to the largest."""
    top = max((n for _, n in buckets), default=0) or 1
    step = WIDTH // max(len(buckets), 1)
    bars = []
    for index, (label, count) in enumerate(buckets):
        height = round((BASELINE - 10) * count / top)
        bars.append(Bar(label, count, index * step + 4, BASELINE - height, step - 8, height))
    return bars
