"""Demo traffic: the group "Live Credit Scoring" and a week of replayed predictions.

The predictions go through the real serving path (routing, predictor, SHAP, the INSERT),
only with their log time backdated over the last 7 days (busier in working hours, quieter
at night and at the weekend) so every chart has a shape on first start. Most of them then
get their true outcome back through the real feedback path, as a lender learns later which
applicants defaulted, and the week is rolled up (inference/rollup.py) as beat would have.
Idempotent: request ids are derived from the row number, so a rerun logs nothing twice,
and a seeded table is left as it is.
"""

import uuid
from datetime import datetime, timedelta

import numpy as np
from django.utils import timezone

from groups.models import ModelGroup, Role
from groups.services import MemberSpec, group_create
from inference import tables
from inference.feedback import FeedbackItem, feedback_record
from inference.rollup import rollup_refresh
from inference.serving import PredictRequest, predict_batch
from registry.demo import CREDIT_FEATURES, LABEL, credit_dataset
from registry.models import ModelVersion

DEMO_GROUP_NAME = "Live Credit Scoring"
DEMO_TRAFFIC_SEED = 2026
DEMO_DAYS = 7
FEEDBACK_SHARE = 0.8
CHUNK = 500
_NAMESPACE = uuid.UUID("6f1c3a52-8d8e-4c43-9a56-5c1d0d7f2b10")


def demo_request_id(index: int) -> uuid.UUID:
    return uuid.uuid5(_NAMESPACE, f"live-credit-scoring:{index}")


def _demo_group(versions: dict[str, ModelVersion], actor) -> ModelGroup:
    group = ModelGroup.objects.filter(name=DEMO_GROUP_NAME).first()
    if group is not None:
        return group
    return group_create(
        name=DEMO_GROUP_NAME,
        description=(
            "Credit applications scored live: the logistic regression 1.2 is champion, the "
            "gradient boosting 1.3 challenges it on 10% of the traffic."
        ),
        members=[
            MemberSpec(versions["1.2"], Role.CHAMPION, 90),
            MemberSpec(versions["1.3"], Role.CHALLENGER, 10),
        ],
        created_by=actor,
    )


def demo_times(count: int, *, now: datetime, rng: np.random.Generator) -> list[datetime]:
    """`count` times over the last DEMO_DAYS days, denser in working hours and on weekdays."""
    start = now - timedelta(days=DEMO_DAYS)
    hours = np.arange(DEMO_DAYS * 24)
    moments = [start + timedelta(hours=int(h)) for h in hours]
    hour_of_day = np.array([m.hour for m in moments])
    weekday = np.array([m.weekday() < 5 for m in moments])
    weight = (0.25 + np.exp(-((hour_of_day - 13) ** 2) / 18.0)) * np.where(weekday, 1.0, 0.45)
    chosen = rng.choice(hours, size=count, p=weight / weight.sum())
    offsets = rng.uniform(0, 3600, size=count)
    times = sorted(
        start + timedelta(hours=int(h), seconds=float(s))
        for h, s in zip(chosen, offsets, strict=True)
    )
    # Never in the future, even for the last hour's bucket.
    return [min(t, now - timedelta(seconds=1)) for t in times]


def demo_traffic_seed(*, versions: dict[str, ModelVersion], requests: int, actor) -> int:
    """Create the demo group (if missing) and replay `requests` predictions; returns how many
    were logged by this call (0 when the demo traffic is already there)."""
    group = _demo_group(versions, actor)
    log = tables.inference_log_model(group.table_name)
    before = log.objects.count()
    if before >= requests:
        return 0

    rng = np.random.default_rng(DEMO_TRAFFIC_SEED)
    frame = credit_dataset(rows=requests, seed=DEMO_TRAFFIC_SEED)
    times = demo_times(requests, now=timezone.now(), rng=rng)
    records = frame[CREDIT_FEATURES].to_dict("records")
    instances = [
        PredictRequest(
            # Plain Python numbers: the log stores the inputs as JSON.
            inputs={k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()},
            routing_key=f"applicant-{index:05d}",
            request_id=demo_request_id(index),
            explain=True,
            logged_at=times[index],
        )
        for index, row in enumerate(records)
    ]
    for start in range(0, requests, CHUNK):
        predict_batch(slug=group.slug, instances=instances[start : start + CHUNK])

    answered = rng.random(requests) < FEEDBACK_SHARE
    outcomes = [
        FeedbackItem(request_id=demo_request_id(i), outcome=int(label))
        for i, label in enumerate(frame[LABEL])
        if answered[i]
    ]
    for start in range(0, len(outcomes), CHUNK):
        feedback_record(group=group, items=outcomes[start : start + CHUNK])
    rollup_refresh(group=group)  # the comparison starts from roll-ups, as beat keeps it
    return log.objects.count() - before
