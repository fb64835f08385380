"""The decision of one tick of a rollout (pure: no Django): from a snapshot of the evidence
to an action, the reason in words, and the evidence it rests on.

In this order, for the current step:
1. guardrails from live health (the step's rows only): the challenger's error rate and
   fallback rate, its p99 latency against the champion's, and a sample-ratio-mismatch
   chi-squared test of the observed split against the configured weights; a breach rolls
   back at once;
2. quality from labelled rows, with the always-valid test of rollouts/sequential.py on
   the improvement I = challenger - champion (sign flipped for losses, so positive is
   better): I's upper bound below -margin rolls back; I's lower bound above the goal's
   threshold (-margin for non_inferior, 0 for superior) advances, once the step's minimum
   time and labelled rows are met (or promotes after the last step);
3. otherwise hold; past step_max_minutes, inconclusive (with the rows the test would need).
No data is never a pass: without labelled rows on both sides the rollout holds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from scipy.stats import chisquare

from rollouts.quality import HIGHER_IS_BETTER, QualityEvidence
from rollouts.sequential import mixture_interval, mixture_log_likelihood_ratio, rows_to_exclude

ADVANCE = "advance"
HOLD = "hold"
PROMOTE = "promote"
ROLLBACK = "rollback"
INCONCLUSIVE = "inconclusive"
NON_INFERIOR = "non_inferior"
SUPERIOR = "superior"
SHADOW_STEP = -1  # shadow_first: the phase before the first traffic step


@dataclass(frozen=True)
class Guardrails:
    error_rate_max: float = 0.01
    fallback_rate_max: float = 0.01
    p99_latency_ratio_max: float = 1.5
    srm_p_min: float = 0.001
    # Rows the challenger must have had in the step before its rates and latency count.
    min_rows: int = 20


@dataclass(frozen=True)
class Plan:
    steps: tuple[int, ...] = (5, 25, 50, 100)
    step_min_minutes: float = 60
    step_max_minutes: float = 1440
    min_labelled_per_step: int = 200
    metric: str = "accuracy"
    goal: str = NON_INFERIOR
    margin: float = 0.01
    alpha: float = 0.05
    guardrails: Guardrails = field(default_factory=Guardrails)

    def weight(self, step_index: int) -> int:
        return 0 if step_index == SHADOW_STEP else self.steps[step_index]

    @property
    def tau(self) -> float:
        # The mixture's spread: the effect size that matters (sequential.py).
        return self.margin if self.margin > 0 else 0.01

    @property
    def threshold(self) -> float:
        """The improvement the lower bound must pass to be good enough for the goal."""
        return 0.0 if self.goal == SUPERIOR else -self.margin


@dataclass(frozen=True)
class ArmHealth:
    rows: int = 0  # the challenger's: rows routed to it (answered, or fallen back)
    errors: int = 0
    fallbacks: int = 0
    p99_latency_ms: float | None = None


@dataclass(frozen=True)
class Snapshot:
    step_index: int
    minutes_in_step: float
    labelled_in_step: int  # the challenger's labelled rows logged during this step
    champion: ArmHealth
    challenger: ArmHealth
    quality: QualityEvidence | None


@dataclass(frozen=True)
class Decision:
    action: str
    reason: str
    evidence: dict[str, Any]
    rows_needed: int | None = None


def srm_p_value(champion_rows: int, challenger_rows: int, challenger_weight: int) -> float | None:
    """Chi-squared test of the observed split against the configured one; None when the
    split has one side only or too few rows for the test (an expected count under 5)."""
    if not 0 < challenger_weight < 100:
        return None
    total = champion_rows + challenger_rows
    expected = [total * (100 - challenger_weight) / 100, total * challenger_weight / 100]
    if min(expected) < 5:
        return None
    return float(chisquare([champion_rows, challenger_rows], f_exp=expected).pvalue)


def _rate(count: int, rows: int) -> float | None:
    return count / rows if rows else None


def _health_evidence(plan: Plan, snap: Snapshot) -> dict[str, Any]:
    challenger, champion = snap.challenger, snap.champion
    ratio = None
    if challenger.p99_latency_ms is not None and champion.p99_latency_ms:
        ratio = challenger.p99_latency_ms / champion.p99_latency_ms
    weight = plan.weight(snap.step_index)
    return {
        "error_rate": _rate(challenger.errors, challenger.rows),
        "fallback_rate": _rate(challenger.fallbacks, challenger.rows),
        "p99_latency_ms": {
            "champion": champion.p99_latency_ms,
            "challenger": challenger.p99_latency_ms,
        },
        "p99_latency_ratio": ratio,
        "srm": {
            "observed": {"champion": champion.rows, "challenger": challenger.rows},
            "configured_challenger_share": weight / 100,
            "p_value": srm_p_value(champion.rows, challenger.rows, weight),
        },
        "limits": {
            "error_rate_max": plan.guardrails.error_rate_max,
            "fallback_rate_max": plan.guardrails.fallback_rate_max,
            "p99_latency_ratio_max": plan.guardrails.p99_latency_ratio_max,
            "srm_p_min": plan.guardrails.srm_p_min,
            "min_rows": plan.guardrails.min_rows,
        },
    }


def guardrail_breach(plan: Plan, snap: Snapshot, health: dict[str, Any]) -> str | None:
    """The first guardrail the step's rows break, in words; None when all hold."""
    limits = plan.guardrails
    srm = health["srm"]["p_value"]
    if srm is not None and srm < limits.srm_p_min:
        observed = health["srm"]["observed"]
        share = observed["challenger"] / max(1, observed["champion"] + observed["challenger"])
        return (
            f"Sample ratio mismatch: the challenger got {share:.1%} of the step's rows where "
            f"{plan.weight(snap.step_index)}% was configured (chi-squared p = {srm:.2g} < "
            f"{limits.srm_p_min:g}); the split cannot be trusted."
        )
    if snap.challenger.rows < limits.min_rows:
        return None
    checks = (
        ("error rate", health["error_rate"], limits.error_rate_max, "{:.1%}"),
        ("fallback rate", health["fallback_rate"], limits.fallback_rate_max, "{:.1%}"),
        (
            "p99 latency ratio to the champion",
            health["p99_latency_ratio"],
            limits.p99_latency_ratio_max,
            "{:.2f}",
        ),
    )
    for name, value, limit, fmt in checks:
        if value is not None and value > limit:
            return (
                f"Guardrail breached: the challenger's {name} is {fmt.format(value)} "
                f"(limit {fmt.format(limit)}) over {snap.challenger.rows} rows in this step."
            )
    return None


def _sign(metric: str) -> float:
    return 1.0 if HIGHER_IS_BETTER.get(metric, True) else -1.0


def quality_evidence(plan: Plan, quality: QualityEvidence | None) -> dict[str, Any]:
    """The test's numbers: each arm's metric, the difference, the always-valid interval of
    the improvement, the mixture likelihood ratio against 'no difference', the bound."""
    evidence: dict[str, Any] = {
        "metric": plan.metric,
        "goal": plan.goal,
        "margin": plan.margin,
        "alpha": plan.alpha,
        "threshold": plan.threshold,
        "test": "normal-mixture SPRT (Johari et al. 2022)",
        "ready": bool(quality and quality.ready),
    }
    if quality is None:
        return evidence
    evidence.update(
        paired=quality.paired,
        champion=quality.champion.as_evidence(),
        challenger=quality.challenger.as_evidence(),
        difference=quality.difference,
    )
    if quality.ready:
        improvement = _sign(plan.metric) * quality.difference
        interval = mixture_interval(improvement, quality.variance, alpha=plan.alpha, tau=plan.tau)
        evidence.update(
            improvement=improvement,
            variance=quality.variance,
            interval=[interval.lower, interval.upper],
            half_width=interval.half_width,
            statistic=mixture_log_likelihood_ratio(improvement, quality.variance, tau=plan.tau),
            bound=math.log(1 / plan.alpha),
        )
    return evidence


def _verdict(plan: Plan, quality: dict[str, Any]) -> str:
    if not quality["ready"]:
        return "no_data"
    lower, upper = quality["interval"]
    if upper < -plan.margin:
        return "worse"
    if lower > plan.threshold:
        return "good"
    return "undecided"


def _rows_needed(
    plan: Plan, quality: QualityEvidence | None, evidence: dict[str, Any]
) -> int | None:
    """More labelled rows the test needs to decide, at the current difference; None when
    no number would (no data, or a difference between -margin and the goal's threshold)."""
    if quality is None or not evidence["ready"]:
        return None
    improvement = evidence["improvement"]
    if improvement > plan.threshold:
        threshold = plan.threshold
    elif improvement < -plan.margin:
        threshold = -plan.margin
    else:
        return None
    total = rows_to_exclude(
        improvement,
        quality.variance,
        quality.labelled,
        alpha=plan.alpha,
        tau=plan.tau,
        threshold=threshold,
    )
    return None if total is None else max(0, total - quality.labelled)


def _step_label(plan: Plan, step_index: int) -> str:
    if step_index == SHADOW_STEP:
        return "the shadow phase"
    return f"step {step_index + 1} of {len(plan.steps)} ({plan.steps[step_index]}%)"


def _waiting_for(plan: Plan, snap: Snapshot, verdict: str) -> list[str]:
    missing = []
    if verdict == "no_data":
        missing.append("labelled rows on both sides (no data is never a pass)")
    elif verdict == "undecided":
        missing.append("the test to decide (the interval still spans the goal's threshold)")
    if snap.minutes_in_step < plan.step_min_minutes:
        missing.append(
            f"the step's minimum time ({snap.minutes_in_step:.0f} of {plan.step_min_minutes:g} min)"
        )
    if snap.labelled_in_step < plan.min_labelled_per_step:
        missing.append(
            f"labelled rows in this step ({snap.labelled_in_step} of {plan.min_labelled_per_step})"
        )
    return missing


def _good_action(plan: Plan, snap: Snapshot) -> tuple[str, str]:
    if snap.step_index == len(plan.steps) - 1:
        return PROMOTE, "promote the challenger to champion"
    next_weight = plan.weight(snap.step_index + 1)
    return ADVANCE, f"advance to {next_weight}%"


def _interval_words(plan: Plan, quality: dict[str, Any]) -> str:
    lower, upper = quality["interval"]
    return (
        f"the challenger's {plan.metric} improvement is in [{lower:+.4f}, {upper:+.4f}] "
        f"(always-valid {1 - plan.alpha:.0%})"
    )


def decide(plan: Plan, snap: Snapshot) -> Decision:
    """One tick's action for the current step, with its reason and evidence."""
    health = _health_evidence(plan, snap)
    quality = quality_evidence(plan, snap.quality)
    evidence: dict[str, Any] = {
        "step": snap.step_index,
        "weight": plan.weight(snap.step_index),
        "minutes_in_step": round(snap.minutes_in_step, 3),
        "labelled_in_step": snap.labelled_in_step,
        "guardrails": health,
        "quality": quality,
    }
    where = _step_label(plan, snap.step_index)
    breach = guardrail_breach(plan, snap, health)
    if breach:
        return Decision(ROLLBACK, f"{breach} Rolled back at {where}.", evidence)
    verdict = _verdict(plan, quality)
    if verdict == "worse":
        return Decision(
            ROLLBACK,
            f"Worse by more than the margin ({plan.margin:g}) at {where}: "
            f"{_interval_words(plan, quality)}, entirely below -{plan.margin:g}.",
            evidence,
        )
    missing = _waiting_for(plan, snap, verdict)
    if verdict == "good" and not missing:
        action, words = _good_action(plan, snap)
        goal = "non-inferior" if plan.goal == NON_INFERIOR else "superior"
        return Decision(
            action,
            f"Good enough ({goal}) at {where}: {_interval_words(plan, quality)}, "
            f"above {plan.threshold:+g}; {words}.",
            evidence,
        )
    needed = _rows_needed(plan, snap.quality, quality)
    evidence["rows_needed"] = needed
    if snap.minutes_in_step >= plan.step_max_minutes:
        return Decision(
            INCONCLUSIVE, _inconclusive_reason(plan, where, missing, needed), evidence, needed
        )
    return Decision(
        HOLD, f"Holding at {where}: waiting for {'; '.join(missing)}.", evidence, needed
    )


def _inconclusive_reason(plan: Plan, where: str, missing: list[str], needed: int | None) -> str:
    head = f"Inconclusive after {plan.step_max_minutes:g} min at {where}: still waiting for {'; '.join(missing)}."
    if needed is not None:
        return f"{head} At the current difference the test needs about {needed} more labelled rows."
    return (
        f"{head} No number of labelled rows would decide at the current evidence "
        "(no data yet, or a difference between the margin and the goal)."
    )
