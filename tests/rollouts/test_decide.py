"""The decision function, simulated with synthetic labelled outcomes (pure, fast)."""

import math
from dataclasses import replace

import numpy as np

from rollouts.decide import (
    ADVANCE,
    HOLD,
    INCONCLUSIVE,
    PROMOTE,
    ROLLBACK,
    ArmHealth,
    Guardrails,
    Plan,
    Snapshot,
    decide,
    srm_p_value,
)
from rollouts.quality import ArmQuality, QualityEvidence

PLAN = Plan(
    steps=(5, 25, 50, 100),
    step_min_minutes=10,
    step_max_minutes=60,
    min_labelled_per_step=30,
    metric="accuracy",
    goal="superior",
    margin=0.02,
    alpha=0.05,
)


def _arm(successes: int, n: int) -> ArmQuality:
    if n < 2:
        return ArmQuality(n, successes / n if n else None, None)
    p = successes / n
    return ArmQuality(n, p, p * (1 - p) / (n - 1))


def _quality(a: tuple[int, int], b: tuple[int, int]) -> QualityEvidence:
    champion, challenger = _arm(*a), _arm(*b)
    difference = variance = None
    if champion.value is not None and challenger.value is not None:
        difference = challenger.value - champion.value
        if champion.variance is not None and challenger.variance is not None:
            variance = champion.variance + challenger.variance
    return QualityEvidence("accuracy", False, champion, challenger, difference, variance)


def simulate(p_champion: float, p_challenger: float, rng, plan: Plan = PLAN, per_tick: int = 200):
    """One rollout looked at every tick (a minute): returns (final action, steps reached)."""
    step, minutes, labelled_in_step = 0, 0.0, 0
    a = [0, 0]  # champion successes, rows
    b = [0, 0]
    actions = []
    while True:
        minutes += 1
        to_challenger = rng.binomial(per_tick, plan.steps[step] / 100)
        to_champion = per_tick - to_challenger
        a[0] += rng.binomial(to_champion, p_champion)
        a[1] += to_champion
        b[0] += rng.binomial(to_challenger, p_challenger)
        b[1] += to_challenger
        labelled_in_step += to_challenger
        snap = Snapshot(
            step, minutes, labelled_in_step, ArmHealth(), ArmHealth(), _quality(tuple(a), tuple(b))
        )
        decision = decide(plan, snap)
        actions.append(decision.action)
        if decision.action == ADVANCE:
            step, minutes, labelled_in_step = step + 1, 0.0, 0
        elif decision.action != HOLD:
            return decision, step, actions


def test_a_better_challenger_climbs_every_step_and_is_promoted():
    rng = np.random.default_rng(1)
    decision, step, actions = simulate(0.70, 0.85, rng)
    assert decision.action == PROMOTE, decision.reason
    assert step == 3 and actions.count(ADVANCE) == 3
    assert decision.evidence["quality"]["interval"][0] > 0


def test_a_worse_challenger_is_rolled_back_at_the_first_step():
    rng = np.random.default_rng(2)
    decision, step, _ = simulate(0.80, 0.55, rng)
    assert decision.action == ROLLBACK and step == 0
    assert "Worse by more than the margin" in decision.reason
    assert decision.evidence["quality"]["interval"][1] < -PLAN.margin


def test_equal_models_under_goal_superior_are_promoted_at_most_alpha_of_the_time():
    rng = np.random.default_rng(3)
    runs = 500
    finals = [simulate(0.75, 0.75, rng)[0].action for _ in range(runs)]
    promoted = finals.count(PROMOTE) / runs
    rolled_back = finals.count(ROLLBACK) / runs
    inconclusive = finals.count(INCONCLUSIVE) / runs
    se = math.sqrt(PLAN.alpha * (1 - PLAN.alpha) / runs)
    message = (
        f"promoted {promoted:.3f}, rolled back {rolled_back:.3f}, inconclusive {inconclusive:.3f} "
        f"over {runs} rollouts; limit alpha + 3 SE = {PLAN.alpha + 3 * se:.3f}"
    )
    assert promoted <= PLAN.alpha + 3 * se, message
    assert promoted + rolled_back + inconclusive == 1, message


def test_no_labelled_rows_is_never_a_pass_and_ends_inconclusive():
    empty = QualityEvidence(
        "accuracy", False, ArmQuality(0, None, None), ArmQuality(0, None, None), None, None
    )
    held = decide(PLAN, Snapshot(0, 30, 0, ArmHealth(), ArmHealth(), empty))
    assert held.action == HOLD and "no data is never a pass" in held.reason
    ended = decide(PLAN, Snapshot(0, 61, 0, ArmHealth(), ArmHealth(), empty))
    assert ended.action == INCONCLUSIVE
    assert "No number of labelled rows would decide" in ended.reason


def test_inconclusive_says_how_many_more_labelled_rows_the_test_needs():
    quality = _quality((700, 1000), (80, 100))  # 70% against 80%, too few rows yet
    decision = decide(PLAN, Snapshot(0, 61, 100, ArmHealth(), ArmHealth(), quality))
    assert decision.action == INCONCLUSIVE
    assert decision.rows_needed and decision.rows_needed > 0
    assert f"about {decision.rows_needed} more labelled rows" in decision.reason


def test_good_enough_waits_for_the_steps_minimum_time_and_rows():
    quality = _quality((7000, 10000), (900, 1000))
    early = decide(PLAN, Snapshot(0, 3, 1000, ArmHealth(), ArmHealth(), quality))
    assert early.action == HOLD and "minimum time (3 of 10 min)" in early.reason
    few = decide(PLAN, Snapshot(0, 11, 5, ArmHealth(), ArmHealth(), quality))
    assert few.action == HOLD and "labelled rows in this step (5 of 30)" in few.reason


def test_srm_catches_twenty_percent_observed_where_ten_was_configured():
    plan = replace(PLAN, steps=(10, 50, 100))
    assert srm_p_value(800, 200, 10) < 1e-20
    snap = Snapshot(0, 5, 0, ArmHealth(rows=800), ArmHealth(rows=200), None)
    decision = decide(plan, snap)
    assert decision.action == ROLLBACK
    assert "Sample ratio mismatch" in decision.reason and "20.0%" in decision.reason
    assert decision.evidence["guardrails"]["srm"]["p_value"] < plan.guardrails.srm_p_min


def test_srm_lets_an_ordinary_split_through():
    plan = replace(PLAN, steps=(10, 50, 100))
    assert srm_p_value(905, 95, 10) > 0.001
    snap = Snapshot(0, 5, 0, ArmHealth(rows=905), ArmHealth(rows=95), None)
    assert decide(plan, snap).action == HOLD


def test_challenger_errors_and_latency_breach_the_guardrails():
    plan = replace(PLAN, guardrails=Guardrails(min_rows=20))
    failing = Snapshot(
        0, 5, 0, ArmHealth(rows=950), ArmHealth(rows=50, errors=5, fallbacks=5), None
    )
    decision = decide(plan, failing)
    assert decision.action == ROLLBACK and "error rate is 10.0%" in decision.reason
    slow = Snapshot(
        0, 5, 0, ArmHealth(rows=950, p99_latency_ms=10), ArmHealth(rows=50, p99_latency_ms=20), None
    )
    assert "p99 latency ratio to the champion is 2.00" in decide(plan, slow).reason


def test_loss_metrics_count_a_lower_value_as_better():
    plan = replace(PLAN, metric="log_loss", goal="non_inferior", margin=0.01)
    champion = ArmQuality(5000, 0.60, 0.6**2 / 5000)
    challenger = ArmQuality(5000, 0.40, 0.4**2 / 5000)
    quality = QualityEvidence(
        "log_loss", False, champion, challenger, -0.20, champion.variance + challenger.variance
    )
    decision = decide(plan, Snapshot(0, 11, 500, ArmHealth(), ArmHealth(), quality))
    assert decision.action == ADVANCE
    assert decision.evidence["quality"]["improvement"] > 0
