"""Drift statistics between a reference sample and a current one: pure, no Django.

The method is chosen as Evidently chooses it, by the feature's type and the reference's
size (`method_choose`):

    reference <= 1000 rows
        numeric with > 5 distinct values   KS two-sample        drift when p < 0.05
        binary (2 distinct values)         two-proportion z     drift when p < 0.05
        categorical or <= 5 values         chi-squared          drift when p < 0.05
    reference > 1000 rows
        numeric with > 5 distinct values   Wasserstein / std(reference, ddof=0) >= 0.1
        otherwise                          Jensen-Shannon distance, base 2     >= 0.1
    PSI (10 quantile bins of the reference) >= 0.1 as an option; any method and threshold
    may be forced per feature.

Every statistic is scipy's on the same rows (the tests hold them equal to 1e-9).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats
from scipy.spatial.distance import jensenshannon

KS = "ks"
CHI_SQUARE = "chisquare"
Z_TEST = "z"
WASSERSTEIN = "wasserstein"
JENSEN_SHANNON = "jensenshannon"
PSI = "psi"
METHODS = (KS, CHI_SQUARE, Z_TEST, WASSERSTEIN, JENSEN_SHANNON, PSI)
# Methods answering a p-value (drift when below the threshold); the others a distance.
P_VALUE_METHODS = frozenset({KS, CHI_SQUARE, Z_TEST})
DEFAULT_THRESHOLDS = {
    KS: 0.05,
    CHI_SQUARE: 0.05,
    Z_TEST: 0.05,
    WASSERSTEIN: 0.1,
    JENSEN_SHANNON: 0.1,
    PSI: 0.1,
}
METHOD_NAMES = {
    KS: "Kolmogorov-Smirnov two-sample test (p < threshold)",
    CHI_SQUARE: "Pearson chi-squared test of the 2 x k contingency table (p < threshold)",
    Z_TEST: "Two-proportion z-test (p < threshold)",
    WASSERSTEIN: "Wasserstein distance / reference std, ddof=0 (>= threshold)",
    JENSEN_SHANNON: "Jensen-Shannon distance, base 2 (>= threshold)",
    PSI: "Population Stability Index, 10 reference-quantile bins (>= threshold)",
}
SMALL_REFERENCE_ROWS = 1000
FEW_VALUES = 5
PSI_BINS = 10
PSI_FLOOR = 1e-4  # an empty bin counts as this share, as Evidently does
STD_FLOOR = 1e-3  # a constant reference: Wasserstein is divided by this instead of 0
DATASET_DRIFT_SHARE = 0.5

NUMERIC = "numeric"
CATEGORICAL = "categorical"


@dataclass(frozen=True)
class FeatureDrift:
    name: str
    method: str
    statistic: float
    p_value: float | None
    threshold: float
    drifted: bool
    reference_rows: int
    current_rows: int

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Override:
    method: str | None = None
    threshold: float | None = None


def is_missing(value: object) -> bool:
    return value is None or value == "" or (isinstance(value, float) and math.isnan(value))


def present(values: Iterable[object]) -> list:
    return [v for v in values if not is_missing(v)]


def is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def value_kind(values: Sequence[object]) -> str:
    """numeric when every present value is a number, categorical otherwise."""
    return NUMERIC if values and all(is_number(v) for v in values) else CATEGORICAL


def method_choose(kind: str, reference: Sequence, current: Sequence, *, psi: bool = False) -> str:
    distinct = len(set(reference) | set(current))
    many_numbers = kind == NUMERIC and distinct > FEW_VALUES
    if psi:
        return PSI
    if len(reference) <= SMALL_REFERENCE_ROWS:
        if many_numbers:
            return KS
        return Z_TEST if distinct == 2 else CHI_SQUARE
    return WASSERSTEIN if many_numbers else JENSEN_SHANNON


def _as_floats(values: Sequence) -> np.ndarray:
    return np.asarray(values, dtype=float)


def ks(reference: Sequence, current: Sequence) -> tuple[float, float]:
    result = stats.ks_2samp(_as_floats(reference), _as_floats(current))
    return float(result.statistic), float(result.pvalue)


def contingency(reference: Sequence, current: Sequence) -> np.ndarray:
    """2 x k counts over the categories seen in either sample (sorted by their text)."""
    keys = sorted(set(reference) | set(current), key=str)
    ref, cur = Counter(reference), Counter(current)
    return np.array([[ref[k] for k in keys], [cur[k] for k in keys]], dtype=float)


def chi_square(reference: Sequence, current: Sequence) -> tuple[float, float]:
    table = contingency(reference, current)
    if table.shape[1] < 2:
        return 0.0, 1.0  # one category in both: nothing can have moved
    result = stats.chi2_contingency(table, correction=False)
    return float(result.statistic), float(result.pvalue)


def z_test(reference: Sequence, current: Sequence) -> tuple[float, float]:
    """Two-proportion z-test on the share of the first category (sorted by text)."""
    keys = sorted(set(reference) | set(current), key=str)
    first = keys[0]
    n1, n2 = len(reference), len(current)
    p1 = sum(1 for v in reference if v == first) / n1
    p2 = sum(1 for v in current if v == first) / n2
    pooled = (p1 * n1 + p2 * n2) / (n1 + n2)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if spread == 0:
        return 0.0, 1.0
    z = (p1 - p2) / spread
    return float(z), float(2 * stats.norm.sf(abs(z)))


def wasserstein_normed(reference: Sequence, current: Sequence) -> float:
    ref = _as_floats(reference)
    norm = max(float(np.std(ref)), STD_FLOOR)
    return float(stats.wasserstein_distance(ref, _as_floats(current)) / norm)


def category_shares(reference: Sequence, current: Sequence) -> tuple[np.ndarray, np.ndarray]:
    table = contingency(reference, current)
    return table[0] / table[0].sum(), table[1] / table[1].sum()


def jensen_shannon(reference: Sequence, current: Sequence) -> float:
    ref, cur = category_shares(reference, current)
    return float(jensenshannon(ref, cur, base=2))


def psi_shares(reference: Sequence, current: Sequence, kind: str) -> tuple[np.ndarray, np.ndarray]:
    if kind != NUMERIC:
        return category_shares(reference, current)
    ref, cur = _as_floats(reference), _as_floats(current)
    inner = np.unique(np.quantile(ref, np.linspace(0, 1, PSI_BINS + 1))[1:-1])
    edges = np.concatenate([[-np.inf], inner, [np.inf]])
    ref_counts = np.histogram(ref, edges)[0]
    cur_counts = np.histogram(cur, edges)[0]
    return ref_counts / ref_counts.sum(), cur_counts / cur_counts.sum()


def psi(reference: Sequence, current: Sequence, kind: str = NUMERIC) -> float:
    ref, cur = psi_shares(reference, current, kind)
    ref = np.where(ref == 0, PSI_FLOOR, ref)
    cur = np.where(cur == 0, PSI_FLOOR, cur)
    return float(np.sum((ref - cur) * np.log(ref / cur)))


def statistic(
    method: str, reference: Sequence, current: Sequence, kind: str
) -> tuple[float, float | None]:
    """(statistic, p-value or None) of `method` on the two samples."""
    if method == KS:
        return ks(reference, current)
    if method == CHI_SQUARE:
        return chi_square(reference, current)
    if method == Z_TEST:
        return z_test(reference, current)
    if method == WASSERSTEIN:
        return wasserstein_normed(reference, current), None
    if method == JENSEN_SHANNON:
        return jensen_shannon(reference, current), None
    if method == PSI:
        return psi(reference, current, kind), None
    raise ValueError(f"Unknown drift method {method!r}: use one of {', '.join(METHODS)}.")


def _method_resolve(
    kind: str, ref: list, cur: list, psi_default: bool, override: Override
) -> tuple[str, float]:
    method = override.method or method_choose(kind, ref, cur, psi=psi_default)
    if method in (KS, WASSERSTEIN) and kind != NUMERIC:
        method = CHI_SQUARE if len(ref) <= SMALL_REFERENCE_ROWS else JENSEN_SHANNON
    threshold = override.threshold if override.threshold is not None else DEFAULT_THRESHOLDS[method]
    return method, threshold


def feature_drift(
    name: str,
    reference: Sequence,
    current: Sequence,
    *,
    psi_default: bool = False,
    override: Override | None = None,
) -> FeatureDrift | None:
    """Drift of one feature (None when either sample has no present value)."""
    ref, cur = present(reference), present(current)
    if not ref or not cur:
        return None
    kind = value_kind(ref + cur)
    if kind != NUMERIC:
        ref, cur = [str(v) for v in ref], [str(v) for v in cur]
    method, threshold = _method_resolve(kind, ref, cur, psi_default, override or Override())
    value, p_value = statistic(method, ref, cur, kind)
    drifted = p_value < threshold if method in P_VALUE_METHODS else value >= threshold
    return FeatureDrift(name, method, value, p_value, threshold, bool(drifted), len(ref), len(cur))


def dataset_drift(
    features: Sequence[FeatureDrift], share: float = DATASET_DRIFT_SHARE
) -> tuple[float, bool]:
    if not features:
        return 0.0, False
    drifted_share = sum(1 for f in features if f.drifted) / len(features)
    return drifted_share, drifted_share >= share


def shap_shares(explanations: Iterable[dict | None], names: Sequence[str]) -> dict[str, float]:
    """Each feature's share of the mean |SHAP| over the rows (empty when none explained)."""
    totals = dict.fromkeys(names, 0.0)
    rows = 0
    for values in explanations:
        if not values:
            continue
        rows += 1
        for name in names:
            value = values.get(name)
            if is_number(value) and math.isfinite(value):
                totals[name] += abs(value)
    grand = sum(totals.values())
    if rows == 0 or grand == 0:
        return {}
    return {name: total / grand for name, total in totals.items()}


def weighted_drift(features: Sequence[FeatureDrift], shares: dict[str, float]) -> float | None:
    """Sum of the SHAP shares of the drifted features: drift that matters to the model."""
    if not shares:
        return None
    return float(sum(shares.get(f.name, 0.0) for f in features if f.drifted))


def share_shift(current: dict[str, float], baseline: dict[str, float]) -> dict[str, dict]:
    """Per feature: share now, share in the baseline, and the ratio ("twice as much")."""
    shift = {}
    for name, share in current.items():
        before = baseline.get(name)
        ratio = share / before if before else None
        shift[name] = {"current": share, "reference": before, "ratio": ratio}
    return shift
