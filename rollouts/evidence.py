"""The evidence of one tick, read from the group's inference table with aggregates and
bounded queries: the step's health per arm, and the labelled rows for the quality test.

Rows are attributed as serving logs them (inference/serving/log_rows.py): the champion's own rows
are role=champion without `fallback`; the challenger's are its version with role
challenger (or shadow, in the shadow phase); a request routed to the challenger that it
could not serve is logged as the champion's with `fallback` set. The rollout gives every
other member weight 0, so each fallback is the challenger's.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
from django.db.models import Count, Model, Q, QuerySet

from groups.models import Role
from inference import tables
from inference.serving import shadow_request_id
from rollouts.decide import SHADOW_STEP, ArmHealth, Snapshot
from rollouts.models import Rollout
from rollouts.quality import QualityEvidence, Row, paired, unpaired

# The latest rows read for a p99 and for the quality test: bounded, whatever the traffic.
MAX_LATENCY_ROWS = 5000
MAX_LABELLED_ROWS = 20000
ROW_FIELDS = ("prediction", "score", "outcome")


def log_model(rollout: Rollout) -> type[Model]:
    return tables.inference_log_model(rollout.group.table_name)


def _challenger_role(rollout: Rollout) -> str:
    return Role.SHADOW if rollout.step_index == SHADOW_STEP else Role.CHALLENGER


def _champion_rows(rollout: Rollout, rows: QuerySet) -> QuerySet:
    return rows.filter(model_version_id=rollout.champion_id, role=Role.CHAMPION, fallback=False)


def _challenger_rows(rollout: Rollout, rows: QuerySet, role: str | None = None) -> QuerySet:
    return rows.filter(
        model_version_id=rollout.challenger_id, role=role or _challenger_role(rollout)
    )


def _p99(rows: QuerySet) -> float | None:
    latencies = list(rows.order_by("-id").values_list("latency_ms", flat=True)[:MAX_LATENCY_ROWS])
    return float(np.percentile(latencies, 99)) if latencies else None


def step_health(rollout: Rollout, since: datetime) -> tuple[ArmHealth, ArmHealth]:
    """Champion's and challenger's health over the step's rows (one aggregate query plus
    two bounded latency reads)."""
    rows = log_model(rollout).objects.filter(created_at__gte=since)
    role = _challenger_role(rollout)
    mine = Q(model_version_id=rollout.challenger_id, role=role)
    counts = rows.aggregate(
        champion=Count(
            "id", filter=Q(model_version_id=rollout.champion_id, role=Role.CHAMPION, fallback=False)
        ),
        challenger=Count("id", filter=mine),
        challenger_errors=Count("id", filter=mine & ~Q(error="")),
        fallbacks=Count("id", filter=Q(fallback=True)),
    )
    # A shadow's fallbacks are not rows (serving only logs its failures), and it takes no
    # share of the traffic.
    fallbacks = 0 if role == Role.SHADOW else counts["fallbacks"]
    champion = ArmHealth(
        rows=counts["champion"], p99_latency_ms=_p99(_champion_rows(rollout, rows))
    )
    challenger = ArmHealth(
        rows=counts["challenger"] + fallbacks,
        errors=counts["challenger_errors"] + fallbacks,
        fallbacks=fallbacks,
        p99_latency_ms=_p99(_challenger_rows(rollout, rows)),
    )
    return champion, challenger


def _labelled(rows: QuerySet) -> QuerySet:
    return rows.filter(outcome__isnull=False)


def _rows(rows: QuerySet) -> list[Row]:
    return list(_labelled(rows).order_by("-id").values_list(*ROW_FIELDS)[:MAX_LABELLED_ROWS])


def unpaired_quality(rollout: Rollout) -> QualityEvidence:
    """Split traffic since the challenger first took some."""
    rows = log_model(rollout).objects.filter(created_at__gte=rollout.traffic_started_at)
    return unpaired(
        rollout.metric,
        _rows(_champion_rows(rollout, rows)),
        _rows(_challenger_rows(rollout, rows, Role.CHALLENGER)),
    )


def paired_quality(rollout: Rollout) -> QualityEvidence:
    """The shadow phase: each labelled champion row with the challenger's shadow row of the
    same request (its request_id is derived from the champion's, inference/serving/score.py)."""
    rows = log_model(rollout).objects.filter(created_at__gte=rollout.started_at)
    shadows = {
        request_id: (prediction, score, outcome)
        for request_id, prediction, score, outcome in _labelled(
            _challenger_rows(rollout, rows, Role.SHADOW)
        )
        .order_by("-id")
        .values_list("request_id", *ROW_FIELDS)[:MAX_LABELLED_ROWS]
    }
    pairs = []
    champion = (
        _labelled(_champion_rows(rollout, rows))
        .order_by("-id")
        .values_list("request_id", *ROW_FIELDS)
    )
    for request_id, prediction, score, outcome in champion[:MAX_LABELLED_ROWS]:
        shadow = shadows.get(shadow_request_id(request_id, rollout.challenger_id))
        if shadow is not None:
            pairs.append(((prediction, score, outcome), shadow))
    return paired(rollout.metric, pairs)


def labelled_in_step(rollout: Rollout) -> int:
    rows = log_model(rollout).objects.filter(created_at__gte=rollout.step_started_at)
    return _labelled(_challenger_rows(rollout, rows)).count()


def snapshot(rollout: Rollout, now: datetime) -> Snapshot:
    """Everything the decision function needs, read now."""
    champion, challenger = step_health(rollout, rollout.step_started_at)
    shadow = rollout.step_index == SHADOW_STEP
    return Snapshot(
        step_index=rollout.step_index,
        minutes_in_step=max(0.0, (now - rollout.step_started_at).total_seconds() / 60),
        labelled_in_step=labelled_in_step(rollout),
        champion=champion,
        challenger=challenger,
        quality=paired_quality(rollout) if shadow else unpaired_quality(rollout),
    )
