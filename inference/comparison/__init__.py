"""The Comparative View: numbers (pure), verdicts (pure, per metric), presentation (method
notes and charts as data) and the selectors that read them from a group's log."""

from inference.comparison.numbers import DETAIL_ORDER, KPI_ORDER, MemberStats, Metric
from inference.comparison.presentation import METHOD_NOTES
from inference.comparison.selectors import (
    BUCKETS,
    CACHE_SECONDS,
    Comparison,
    group_comparison,
    version_live_metrics,
)
from inference.windows import DEFAULT_WINDOW, WINDOW_LABELS, WINDOWS, InvalidWindow, window_start

__all__ = [
    "BUCKETS",
    "CACHE_SECONDS",
    "DEFAULT_WINDOW",
    "DETAIL_ORDER",
    "KPI_ORDER",
    "METHOD_NOTES",
    "WINDOWS",
    "WINDOW_LABELS",
    "Comparison",
    "InvalidWindow",
    "MemberStats",
    "Metric",
    "group_comparison",
    "version_live_metrics",
    "window_start",
]
