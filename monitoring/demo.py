"""The demo's monitoring: references from the training hold-out, a drift episode (incomes
+60% over the last two days, replayed through the real serving path), a week of daily
snapshots and an income drift rule, so the Monitoring tab and an alert show something
real on first start. Idempotent, like the rest of the demo."""

from __future__ import annotations

import uuid
from datetime import timedelta

import numpy as np
from django.utils import timezone

from groups.models import ModelGroup
from inference import tables
from inference.serving import PredictRequest, predict_batch
from monitoring.alerts import alert_rule_create
from monitoring.models import AlertRule, Period, Reference, ReferenceSource
from monitoring.reference import reference_from_frame
from monitoring.snapshots import group_run, window_end
from registry.demo import CREDIT_FEATURES, credit_dataset, credit_split
from registry.models import ModelVersion

EPISODE_SEED = 4242
EPISODE_HOURS = 48
INCOME_FACTOR = 1.6
_NAMESPACE = uuid.UUID("0d7bb1a4-9d5e-4a57-8f5e-3e6c1c1b9d21")
BACKFILL_DAYS = 7


def _plain(value):
    return value.item() if hasattr(value, "item") else value


def demo_references_seed(*, versions: dict[str, ModelVersion], actor=None) -> int:
    """Each demo version's reference: the training hold-out it was evaluated on."""
    _, x_test, _, _ = credit_split()
    made = 0
    for version in versions.values():
        if Reference.objects.filter(model_version=version).exists():
            continue
        reference_from_frame(
            model_version=version,
            frame=x_test.reset_index(drop=True),
            source=ReferenceSource.TRAINING,
            description="training hold-out (25% of the demo credit dataset)",
            actor=actor,
        )
        made += 1
    return made


def demo_drift_episode_seed(*, group: ModelGroup, requests: int = 600) -> int:
    """Incomes 60% higher than in training for the last two days: replayed predictions."""
    log = tables.inference_log_model(group.table_name)
    ids = [uuid.uuid5(_NAMESPACE, f"{group.slug}:{i}") for i in range(requests)]
    if log.objects.filter(request_id=ids[0]).exists():
        return 0
    rng = np.random.default_rng(EPISODE_SEED)
    frame = credit_dataset(rows=requests, seed=EPISODE_SEED)[CREDIT_FEATURES]
    frame["income"] = (frame["income"] * INCOME_FACTOR).round(-2)
    now = timezone.now()
    offsets = np.sort(rng.uniform(60, EPISODE_HOURS * 3600, requests))[::-1]
    instances = [
        PredictRequest(
            inputs={k: _plain(v) for k, v in row.items()},
            routing_key=f"episode-{i:05d}",
            request_id=ids[i],
            explain=True,
            logged_at=now - timedelta(seconds=float(offsets[i])),
        )
        for i, row in enumerate(frame.to_dict("records"))
    ]
    for start in range(0, requests, 500):
        predict_batch(slug=group.slug, instances=instances[start : start + 500])
    return requests


def demo_monitoring_seed(*, versions: dict[str, ModelVersion], group_name: str, actor=None) -> int:
    """References, the drift episode, an income rule and a week of daily snapshots."""
    group = ModelGroup.objects.filter(name=group_name).first()
    if group is None:
        return 0
    demo_references_seed(versions=versions, actor=actor)
    demo_drift_episode_seed(group=group)
    if not AlertRule.objects.filter(group=group, metric="drift.feature:income").exists():
        alert_rule_create(
            group=group,
            name="Income drift",
            metric="drift.feature:income",
            operator=">=",
            threshold=1,
            windows=2,
            period=Period.DAY,
        )
    now = timezone.now()
    count = 0
    for days in range(BACKFILL_DAYS, -1, -1):
        count += len(
            group_run(
                group=group,
                period=Period.DAY,
                end=window_end(Period.DAY, now - timedelta(days=days)),
            )
        )
    count += len(group_run(group=group, period=Period.HOUR))
    return count
