"""Snapshots: one member's drift, quality, health and performance over one window.

Windows are aligned to their period (an hour, a UTC day; 7 and 30 days end at a UTC day
boundary) and named by their end; the current window is partial and computed again on
each run (the same row is updated). Per member, a snapshot costs:

    one aggregate over the window (count, errors, fallbacks, last prediction, last feedback)
    one systematic sample of at most HUB_MONITORING_SAMPLE_ROWS rows (drift, quality, latency)
    one sample of at most HUB_MONITORING_LABELLED_ROWS labelled rows (performance)

never the whole table.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Max, Q, Sum
from django.utils import timezone

from groups.models import Membership, ModelGroup
from groups.routing import by_role
from inference.models import RefusalCount
from monitoring import drift, measures
from monitoring.models import MonitorConfig, Period, Reference, Snapshot
from monitoring.samples import member_rows, window_sample

PERIODS = {
    Period.HOUR: timedelta(hours=1),
    Period.DAY: timedelta(days=1),
    Period.WEEK: timedelta(days=7),
    Period.MONTH: timedelta(days=30),
}


def window_end(period: str, now: datetime) -> datetime:
    """The end of the window of `period` that contains `now` (an hour or a UTC midnight)."""
    hour = now.replace(minute=0, second=0, microsecond=0)
    if period == Period.HOUR:
        return hour + timedelta(hours=1)
    return hour.replace(hour=0) + timedelta(days=1)


def config_for(group: ModelGroup) -> MonitorConfig:
    config, _ = MonitorConfig.objects.get_or_create(group=group)
    return config


def members(group: ModelGroup) -> list[Membership]:
    found = Membership.objects.filter(group=group).select_related("model_version__model")
    return by_role(found)


def _overrides(config: MonitorConfig) -> dict[str, drift.Override]:
    found = {}
    for name, spec in (config.feature_overrides or {}).items():
        if isinstance(spec, dict):
            found[name] = drift.Override(spec.get("method") or None, spec.get("threshold"))
    return found


def _baseline_shares(reference: Reference, group: ModelGroup, version_id: int, period: str) -> dict:
    """What the SHAP shares are compared to: the reference period's (a live reference), or
    else the member's earliest stored window of the last 30 days."""
    if reference.shap_share:
        return reference.shap_share
    first = (
        Snapshot.objects.filter(
            group=group,
            model_version_id=version_id,
            period=period,
            window_end__gte=timezone.now() - timedelta(days=30),
        )
        .exclude(drift=None)
        .order_by("window_end")
        .values_list("drift", flat=True)
        .first()
    )
    return (first or {}).get("shap_share") or {}


def feature_drifts(
    reference: Reference, rows: list[dict], config: MonitorConfig
) -> list[drift.FeatureDrift]:
    overrides = _overrides(config)
    found = []
    for name in reference.features:
        current = [(row.get("inputs") or {}).get(name) for row in rows]
        result = drift.feature_drift(
            name,
            reference.sample.get(name, []),
            current,
            psi_default=config.use_psi,
            override=overrides.get(name),
        )
        if result is not None:
            found.append(result)
    return found


def drift_block(
    reference: Reference | None, rows: list[dict], config: MonitorConfig, baseline: dict
) -> dict | None:
    if reference is None:
        return None
    features = feature_drifts(reference, rows, config)
    share, drifted = drift.dataset_drift(features, config.dataset_drift_share)
    shares = drift.shap_shares((row.get("explanation") for row in rows), reference.features)
    by_name = {f.name: f.as_dict() | {"shap_share": shares.get(f.name)} for f in features}
    return {
        "features": list(by_name.values()),
        "share_drifted": share,
        "dataset_drifted": drifted,
        "weighted": drift.weighted_drift(features, shares),
        "shap_share": shares,
        "shap_shift": drift.share_shift(shares, baseline),
        "reference_rows": reference.rows,
        "reference_source": reference.source,
    }


def prediction_drift_block(reference: Reference | None, rows: list[dict]) -> dict | None:
    if reference is None or not reference.sample_scores:
        return None
    current = [row.get("score") for row in rows]
    if not drift.present(current):
        current = [row.get("prediction") for row in rows]
    result = drift.feature_drift("score", reference.sample_scores, current)
    return result.as_dict() if result else None


def _totals(group: ModelGroup, version_id: int, start: datetime, end: datetime) -> dict:
    return member_rows(group.table_name, version_id, start, end).aggregate(
        requests=Count("id"),
        errors=Count("id", filter=~Q(error="")),
        fallbacks=Count("id", filter=Q(fallback=True)),
        last_prediction=Max("created_at"),
        last_feedback=Max("outcome_at"),
    )


def health_block(totals: dict, rows: list[dict], at: datetime) -> dict:
    requests = totals["requests"]

    def since(moment: datetime | None) -> float | None:
        return (at - moment).total_seconds() if moment else None

    return {
        "requests": requests,
        **measures.latency_percentiles([row.get("latency_ms") for row in rows]),
        "latency_rows": len(rows),
        "error_rate": totals["errors"] / requests if requests else None,
        "fallback_rate": totals["fallbacks"] / requests if requests else None,
        "seconds_since_last_prediction": since(totals["last_prediction"]),
        "seconds_since_last_feedback": since(totals["last_feedback"]),
    }


def _labelled(group: ModelGroup, version_id: int, start: datetime, end: datetime) -> list[dict]:
    rows = member_rows(group.table_name, version_id, start, end).filter(outcome__isnull=False)
    limit = settings.HUB_MONITORING_LABELLED_ROWS
    return list(rows.order_by("-created_at").values("score", "prediction", "outcome")[:limit])


def refusals(group: ModelGroup, start: datetime, end: datetime) -> dict[str, int]:
    """Instances the group's predict endpoint refused at input validation in the window,
    per reason (inference/refusals.py counts them per hour, before routing: the group's,
    the same for every member)."""
    counts = (
        RefusalCount.objects.filter(group=group, hour__gte=start, hour__lt=end)
        .values("reason")
        .annotate(total=Sum("count"))
        .order_by("reason")
    )
    return {row["reason"]: row["total"] for row in counts}


def snapshot_compute(
    *, group: ModelGroup, membership: Membership, period: str, end: datetime, config: MonitorConfig
) -> Snapshot:
    start = end - PERIODS[period]
    version = membership.model_version
    totals = _totals(group, version.pk, start, end)
    sample = window_sample(
        group.table_name,
        version.pk,
        start,
        end,
        limit=settings.HUB_MONITORING_SAMPLE_ROWS,
        total=totals["requests"],
    )
    reference = Reference.objects.filter(model_version=version).first()
    baseline = _baseline_shares(reference, group, version.pk, period) if reference else {}
    features = reference.features if reference else (version.feature_names or group.features)
    snapshot, _ = Snapshot.objects.update_or_create(
        group=group,
        model_version=version,
        period=period,
        window_end=end,
        defaults={
            "role": membership.role,
            "window_start": start,
            "drift": drift_block(reference, sample.rows, config, baseline),
            "prediction_drift": prediction_drift_block(reference, sample.rows),
            "quality": measures.quality(
                sample.rows,
                features,
                reference.summaries if reference else {},
                refusals(group, start, end),
            ),
            "health": health_block(totals, sample.rows, min(timezone.now(), end)),
            "performance": measures.performance(
                group.task, _labelled(group, version.pk, start, end)
            ),
        },
    )
    return snapshot


def group_run(
    *, group: ModelGroup, period: str = Period.DAY, end: datetime | None = None
) -> list[Snapshot]:
    """Snapshots of every member of the group for one window, then the alert rules."""
    from monitoring.alerts import default_rules_ensure, rules_evaluate

    if period not in PERIODS:
        raise ValueError(period)
    end = end or window_end(period, timezone.now())
    config = config_for(group)
    default_rules_ensure(group=group, config=config)
    snapshots = []
    for membership in members(group):
        with transaction.atomic():
            snapshots.append(
                snapshot_compute(
                    group=group, membership=membership, period=period, end=end, config=config
                )
            )
    rules_evaluate(group=group, snapshots=snapshots)
    return snapshots


def groups_run(*, period: str, end: datetime | None = None) -> int:
    count = 0
    for group in ModelGroup.objects.filter(is_active=True).exclude(table_name=""):
        count += len(group_run(group=group, period=period, end=end))
    return count


def latest_snapshots(group: ModelGroup, period: str) -> list[Snapshot]:
    """The newest snapshot of `period` of each current member."""
    found = []
    for membership in members(group):
        snapshot = (
            Snapshot.objects.filter(
                group=group, model_version=membership.model_version, period=period
            )
            .select_related("model_version__model")
            .order_by("-window_end")
            .first()
        )
        if snapshot is not None:
            snapshot.role = membership.role
            found.append(snapshot)
    return found


def snapshot_payload(snapshot: Snapshot) -> dict:
    return {
        "model_version": snapshot.model_version_id,
        "version": str(snapshot.model_version),
        "role": snapshot.role,
        "window_start": snapshot.window_start.isoformat(),
        "window_end": snapshot.window_end.isoformat(),
        "drift": snapshot.drift,
        "prediction_drift": snapshot.prediction_drift,
        "quality": snapshot.quality,
        "health": snapshot.health,
        "performance": snapshot.performance,
    }


def monitoring_read(*, group: ModelGroup, period: str) -> dict:
    """What GET /api/v1/groups/<slug>/monitoring answers; computes the window if missing."""
    snapshots = latest_snapshots(group, period)
    if not snapshots and members(group):
        group_run(group=group, period=period)
        snapshots = latest_snapshots(group, period)
    return {"window": period, "members": [snapshot_payload(s) for s in snapshots]}
