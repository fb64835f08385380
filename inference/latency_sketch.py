"""Latency percentiles from log-bucketed histograms: within 1% of the exact value.

An exact percentile needs every value of the window sorted, which an hourly roll-up cannot
keep. A histogram with logarithmic buckets (DDSketch's: bucket i holds the values in
(gamma^(i-1), gamma^i], gamma = (1 + a) / (1 - a)) adds up across hours and members, and
answers every value in bucket i with 2 gamma^i / (gamma + 1), which is at most a relative
`a` away from any of them. With a = 1% a latency of 10 ms comes back between 9.9 and
10.1 ms, and 1% buckets cover 0.001 ms to an hour in about 1,100 of them.

The rank is read with percentile_cont's definition (linear interpolation between the two
closest ranks, numpy's default), over the buckets' values instead of the rows'. Bucketing
keeps the order, so the value at each rank is within 1% of the exact value at that rank,
and so is an interpolation between two of them: every percentile is within 1% of the
exact one. Values <= 0 share one bucket that answers 0 (exact for 0; a latency is never
negative).

Histograms are JSON-ready dicts {bucket key: count}, as the roll-ups store them. SQL
computes the same bucket index, CEIL(LN(x) / LN(gamma)) (inference/aggregates.py). Pure
Python, no Django.
"""

from bisect import bisect_right
from collections.abc import Mapping, Sequence
from itertools import accumulate
from math import ceil, floor, inf, log

RELATIVE_ACCURACY = 0.01
GAMMA = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY)
LN_GAMMA = log(GAMMA)
ZERO = "z"  # the bucket of values <= 0

Histogram = dict[str, int]


def bucket_key(index: float | None) -> str:
    """The key of a bucket index as SQL gives it (a float from CEIL; NULL for <= 0)."""
    return ZERO if index is None else str(int(index))


def bucket_of(value: float) -> str:
    """The key of a value's bucket, computed as SQL does."""
    return ZERO if value <= 0 else bucket_key(ceil(log(value) / LN_GAMMA))


def representative(key: str) -> float:
    """What a bucket answers: the value at most RELATIVE_ACCURACY away from all it holds."""
    if key == ZERO:
        return 0.0
    return 2 * GAMMA ** int(key) / (GAMMA + 1)


def histogram_add(into: Histogram, other: Mapping[str, int]) -> None:
    for key, count in other.items():
        into[key] = into.get(key, 0) + count


def histograms_sum(histograms: Sequence[Mapping[str, int]]) -> Histogram:
    """The histograms added up, bucket by bucket across all of them: a third less time
    than adding them one into the other (a week's 168 hourly histograms, bench/analytics)."""
    keys = set().union(*histograms)
    return {key: sum([h.get(key, 0) for h in histograms]) for key in keys}


def histogram_of(values: Sequence[float]) -> Histogram:
    histogram: Histogram = {}
    for value in values:
        key = bucket_of(value)
        histogram[key] = histogram.get(key, 0) + 1
    return histogram


def _order(key: str) -> float:
    return -inf if key == ZERO else int(key)


def percentiles(histogram: Mapping[str, int], qs: Sequence[float]) -> tuple[float | None, ...]:
    """percentile_cont(q) of the histogram's values for each q in [0, 1]; None when empty."""
    keys = sorted((k for k, count in histogram.items() if count > 0), key=_order)
    if not keys:
        return (None,) * len(qs)
    ends = list(
        accumulate(histogram[k] for k in keys)
    )  # rank r lies in the first bucket whose end > r
    values = [representative(k) for k in keys]
    n = ends[-1]
    result = []
    for q in qs:
        position = q * (n - 1)
        low = floor(position)
        below = values[bisect_right(ends, low)]
        above = values[bisect_right(ends, min(low + 1, n - 1))]
        result.append(below + (above - below) * (position - low))
    return tuple(result)
