"""One plain verdict per metric for a challenger against the champion (pure: no Django).

Accuracy: McNemar's test on paired rows, else a two-proportion z-test. AUC: DeLong's
test, paired or not. Mean score: Welch's t-test, said as "higher"/"lower" (a higher mean
score is neither better nor worse). Each verdict says how many more rows would decide it.
"""

from __future__ import annotations

from math import sqrt

from inference import stats
from inference.comparison.numbers import MemberStats, Pairs, deltas_fill

NO_VERDICT = {"test": None, "difference": None, "more_rows": None}
WELCH = "Welch's t-test"


def _mcnemar(pairs: Pairs) -> tuple[stats.TestResult | None, float]:
    # On paired rows a prediction is the score's side of 0.5 (the pairs carry scores).
    y, a, b = pairs
    a_right = [(s >= 0.5) == bool(t) for t, s in zip(y, a, strict=True)]
    b_right = [(s >= 0.5) == bool(t) for t, s in zip(y, b, strict=True)]
    only_a = sum(1 for x, z in zip(a_right, b_right, strict=True) if x and not z)
    only_b = sum(1 for x, z in zip(a_right, b_right, strict=True) if z and not x)
    return stats.mcnemar(only_a, only_b), (only_b - only_a) / len(y)


def accuracy_verdict(
    champion: MemberStats, challenger: MemberStats, pairs: Pairs | None
) -> stats.Verdict:
    cc, hc = champion.totals.confusion, challenger.totals.confusion
    if not (cc.n and hc.n):
        return stats.verdict(**NO_VERDICT)
    if pairs is not None:
        test, difference = _mcnemar(pairs)  # the paired difference the test is about
    else:
        test = stats.two_proportion_z(cc.correct, cc.n, hc.correct, hc.n)
        difference = challenger.metrics["accuracy"].delta
    p1, p2 = cc.correct / cc.n, hc.correct / hc.n
    se = sqrt(p1 * (1 - p1) / cc.n + p2 * (1 - p2) / hc.n)
    if se > 0:
        more = stats.more_rows_for_se(se, cc.n + hc.n)
    else:
        more = stats.more_rows_for_proportions(p1, cc.n, hc.n)
    name = "McNemar's test" if pairs is not None else "two-proportion z-test"
    return stats.verdict(test=test, difference=difference, more_rows=more, test_name=name)


def auc_verdict(
    champion: MemberStats, challenger: MemberStats, pairs: Pairs | None
) -> stats.Verdict:
    ours, theirs = champion.scored, challenger.scored
    if pairs is not None:
        test = stats.delong_paired(*pairs)
    else:
        test = stats.delong_unpaired(*ours.arrays, *theirs.arrays)
    if test is None:
        return stats.verdict(**NO_VERDICT)
    more = stats.more_rows_for_se(test.se_difference, len(ours.y) + len(theirs.y))
    name = "DeLong's test, paired" if pairs is not None else "DeLong's test"
    return stats.verdict(
        test=test, difference=challenger.metrics["auc"].delta, more_rows=more, test_name=name
    )


def _welch(champion: MemberStats, challenger: MemberStats) -> stats.TestResult | None:
    ct, ht = champion.totals, challenger.totals
    if ct.mean_score is None or ht.mean_score is None:
        return None
    return stats.welch_t(
        ct.mean_score,
        ct.score_variance or 0.0,
        ct.scored,
        ht.mean_score,
        ht.score_variance or 0.0,
        ht.scored,
    )


def mean_score_verdict(champion: MemberStats, challenger: MemberStats) -> stats.Verdict:
    welch = _welch(champion, challenger)
    if welch is None:
        return stats.verdict(**NO_VERDICT, rows_noun="rows")
    ct, ht = champion.totals, challenger.totals
    delta = challenger.metrics["mean_score"].delta
    se = sqrt((ct.score_variance or 0.0) / ct.scored + (ht.score_variance or 0.0) / ht.scored)
    more = stats.more_rows_for_se(se, ct.scored + ht.scored)
    verdict = stats.verdict(
        test=welch, difference=delta, more_rows=more, rows_noun="rows", test_name=WELCH
    )
    if verdict.kind not in ("better", "worse"):
        return verdict
    direction = "higher" if (delta or 0) > 0 else "lower"
    return stats.Verdict(
        direction,
        f"challenger scores {direction}, {stats.format_p(welch.p_value)}",
        welch.p_value,
        test=WELCH,
    )


def challenger_judge(champion: MemberStats, challenger: MemberStats, pairs: Pairs | None) -> None:
    """Fill the challenger's deltas and its verdicts on accuracy, AUC and mean score."""
    deltas_fill(champion, challenger)
    challenger.metrics["accuracy"].verdict = accuracy_verdict(champion, challenger, pairs)
    challenger.metrics["auc"].verdict = auc_verdict(champion, challenger, pairs)
    challenger.metrics["mean_score"].verdict = mean_score_verdict(champion, challenger)
