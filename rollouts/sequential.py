"""Always-valid inference for a difference of a metric (pure: no Django).

The test is the normal-mixture sequential probability ratio test (mSPRT) of

    R. Johari, P. Koomen, L. Pekelis, D. Walsh, "Always Valid Inference: Continuous
    Monitoring of A/B Tests", Operations Research 70(3):1806-1821, 2022 (arXiv:1512.04922),
    sections 3-4 (the two-sample normal case, eq. (11) and the confidence interval after it).

For an asymptotically normal estimate d of a difference D, with variance V, and a normal
mixing distribution N(theta0, tau^2) over the alternatives, the mixture likelihood ratio of
H0: D = theta0 is

    L = sqrt(V / (V + tau^2)) * exp(tau^2 (d - theta0)^2 / (2 V (V + tau^2)))

L is a non-negative martingale under H0, so by Ville's inequality P(L ever >= 1/alpha) <=
alpha: H0 may be rejected at the first look where L >= 1/alpha, however often one looks.
Inverting the test gives the always-valid confidence interval (a confidence sequence)

    d +/- sqrt(V (V + tau^2) / tau^2 * (log((V + tau^2) / V) - 2 log alpha))

which covers D at every look at once with probability >= 1 - alpha. With the variance
estimated from the data (plug-in) the guarantee is asymptotic, as in the paper's sections
on the t-test and in Howard, Ramdas, McAuliffe, Sekhon, "Time-uniform, nonparametric,
nonasymptotic confidence sequences", Annals of Statistics 49(2), 2021 (the same normal
mixture boundary, their eq. (14)). Compared with a fixed-horizon interval (d +/- 1.96 sqrt(V))
it is wider: the price of looking every minute.

tau is the spread of the effects the test is most sensitive to; the rollouts use the
rollout's margin (the effect size that matters).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

MAX_ROWS = 10**9


@dataclass(frozen=True)
class Interval:
    estimate: float
    lower: float
    upper: float
    half_width: float


def mixture_half_width(variance: float, *, alpha: float, tau: float) -> float:
    """Half the width of the always-valid interval for an estimate with this variance."""
    if variance <= 0:
        return 0.0
    tau2 = tau * tau
    return math.sqrt(
        variance
        * (variance + tau2)
        / tau2
        * (math.log((variance + tau2) / variance) - 2 * math.log(alpha))
    )


def mixture_interval(estimate: float, variance: float, *, alpha: float, tau: float) -> Interval:
    """The always-valid (1 - alpha) confidence interval for the difference (Johari et al.)."""
    half = mixture_half_width(variance, alpha=alpha, tau=tau)
    return Interval(estimate, estimate - half, estimate + half, half)


def mixture_log_likelihood_ratio(
    estimate: float, variance: float, *, tau: float, null: float = 0.0
) -> float:
    """log L of H0: difference = `null`; H0 is rejected once this reaches log(1 / alpha)."""
    if variance <= 0:
        return math.inf if estimate != null else 0.0
    tau2 = tau * tau
    return 0.5 * math.log(variance / (variance + tau2)) + tau2 * (estimate - null) ** 2 / (
        2 * variance * (variance + tau2)
    )


def rows_to_exclude(
    estimate: float,
    variance: float,
    rows: int,
    *,
    alpha: float,
    tau: float,
    threshold: float,
) -> int | None:
    """How many labelled rows in all the interval needs to exclude `threshold`, if the
    estimate stayed where it is and the variance shrank as 1/rows; None when the estimate
    sits on the threshold (no number of rows would decide) or there is no data yet."""
    if rows <= 0 or variance <= 0:
        return None
    gap = abs(estimate - threshold)
    if gap == 0:
        return None
    per_row = variance * rows  # variance of one row's contribution

    def excludes(n: int) -> bool:
        return mixture_half_width(per_row / n, alpha=alpha, tau=tau) < gap

    if excludes(rows):
        return rows
    high = rows
    while not excludes(high):
        high *= 2
        if high > MAX_ROWS:
            return None
    low = high // 2
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if excludes(middle) else (middle, high)
    return high
