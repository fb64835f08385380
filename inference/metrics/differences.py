"""Is a challenger's difference from the champion real? The tests per task (pure).

Each test is scipy.stats' own on the rows it is given, with its name for the page:

- regression, on absolute errors: the paired t-test and the Wilcoxon signed-rank test when
  both members scored the same requests (a shadow), Welch's t-test and the Mann-Whitney U
  test otherwise; a seeded bootstrap interval of the MAE difference either way;
- multiclass: McNemar's test on correctness when paired, else the two-proportion z-test
  (inference/stats.py, shared with binary); the log-loss difference tested on per-row
  losses (paired or Welch's t) with a seeded bootstrap interval.

Statistics are signed challenger − champion, so a positive t means the challenger's
errors (or losses) are larger.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from math import sqrt

import numpy as np
from scipy import stats as sps

from inference.analytics import Interval
from inference.metrics.counts import bootstrap_means, percentile_interval

BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_SEED = 13  # the same rows always give the same interval
# "More rows needed" for a regression: to see a difference of 5% of the champion's MAE.
MAE_RELATIVE_DIFFERENCE = 0.05


@dataclass(frozen=True)
class NamedTest:
    name: str
    statistic: float
    p_value: float

    def as_dict(self) -> dict[str, float | str]:
        return {"name": self.name, "statistic": self.statistic, "p_value": self.p_value}


def _arrays(a: Sequence[float], b: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    return np.asarray(a, dtype=float), np.asarray(b, dtype=float)


def _named(name: str, result: object) -> NamedTest | None:
    statistic, p = float(result.statistic), float(result.pvalue)  # type: ignore[attr-defined]
    if not np.isfinite(p):
        return None
    return NamedTest(name, statistic, p)


def paired_t(champion: Sequence[float], challenger: Sequence[float]) -> NamedTest | None:
    a, b = _arrays(champion, challenger)
    if len(a) < 2:
        return None
    if np.all(b - a == 0):
        return NamedTest("paired t-test", 0.0, 1.0)
    return _named("paired t-test", sps.ttest_rel(b, a))


def wilcoxon(champion: Sequence[float], challenger: Sequence[float]) -> NamedTest | None:
    a, b = _arrays(champion, challenger)
    if len(a) < 2 or np.all(b - a == 0):
        return None
    return _named("Wilcoxon signed-rank test", sps.wilcoxon(b, a))


def welch_t(champion: Sequence[float], challenger: Sequence[float]) -> NamedTest | None:
    a, b = _arrays(champion, challenger)
    if len(a) < 2 or len(b) < 2:
        return None
    if a.var() == 0 and b.var() == 0:
        return NamedTest("Welch's t-test", 0.0, 1.0) if a[0] == b[0] else None
    return _named("Welch's t-test", sps.ttest_ind(b, a, equal_var=False))


def mann_whitney(champion: Sequence[float], challenger: Sequence[float]) -> NamedTest | None:
    a, b = _arrays(champion, challenger)
    if not len(a) or not len(b):
        return None
    return _named("Mann-Whitney U test", sps.mannwhitneyu(b, a, alternative="two-sided"))


def mean_difference_tests(
    champion: Sequence[float], challenger: Sequence[float], *, paired: bool
) -> tuple[NamedTest | None, NamedTest | None]:
    """(the t-test, the rank test) of the challenger's per-row values against the
    champion's: paired t and Wilcoxon on the same requests, else Welch and Mann-Whitney."""
    if paired:
        return paired_t(champion, challenger), wilcoxon(champion, challenger)
    return welch_t(champion, challenger), mann_whitney(champion, challenger)


def bootstrap_mean_difference(
    champion: Sequence[float],
    challenger: Sequence[float],
    *,
    paired: bool,
    seed: int = BOOTSTRAP_SEED,
    resamples: int = BOOTSTRAP_RESAMPLES,
) -> Interval | None:
    """Percentile bootstrap 95% interval of mean(challenger) − mean(champion): pairs
    resampled together when paired, each member's rows on their own otherwise."""
    a, b = _arrays(champion, challenger)
    if len(a) < 2 or len(b) < 2:
        return None
    if paired:
        return percentile_interval(bootstrap_means(b - a, seed=seed, resamples=resamples))
    difference = bootstrap_means(b, seed=seed + 1, resamples=resamples) - bootstrap_means(
        a, seed=seed, resamples=resamples
    )
    return percentile_interval(difference)


def mean_difference_se(
    champion: Sequence[float], challenger: Sequence[float], *, paired: bool
) -> float | None:
    """The standard error of mean(challenger) − mean(champion), for 'more rows needed'."""
    a, b = _arrays(champion, challenger)
    if len(a) < 2 or len(b) < 2:
        return None
    if paired:
        return float((b - a).std(ddof=1)) / sqrt(len(a))
    return sqrt(float(a.var(ddof=1)) / len(a) + float(b.var(ddof=1)) / len(b))
