"""Demo groups for the other tasks: "Dynamic Pricing" (regression) and "Next Best Action"
(multiclass), each with real scikit-learn versions and a week of replayed traffic.

The data are generated here (no download), by documented rules:

    basket price = 6 + 0.92 * basket_value * (1 − discount) + 1.4 * items
                   + 2.5 * loyalty_years − 0.08 * loyalty_years² + 12 * [basket_value > 120]
                   + Normal(0, 3)         (a product, a step and a curve a ridge misses)
    offer = argmax over (bundle, discount, upgrade) of
            (items / 3 − 1.5 * [basket_value > 150] + Normal(0, .8),
             discount * 12 − loyalty_years / 8 + 1.5 * [items < 3] + Normal(0, .8),
             basket_value / 60 + 2 * [basket_value > 150] + Normal(0, .8))

Dynamic Pricing: a ridge regression (champion) and gradient boosting scoring every request
in shadow, so its comparison is paired. Next Best Action: logistic regression (champion,
80%), a random forest (challenger, 20%) and extra trees in shadow (tree ensembles SHAP's
TreeExplainer explains per class; its multiclass gradient boosting would fall back to
the slow permutation explainer). Each request goes
through the real serving path (routing, predictor, SHAP, the INSERT) backdated over the
last week, most get their true value back through the real feedback path, and the week is
rolled up. Idempotent: request ids derive from the row number; seeded groups are kept.
"""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import pandas as pd
from django.db import transaction
from django.utils import timezone
from sklearn.ensemble import (
    ExtraTreesClassifier,
    GradientBoostingRegressor,
    RandomForestClassifier,
)
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from groups.models import ModelGroup, Role
from groups.services import MemberSpec, group_create
from inference import tables
from inference.demo import CHUNK, demo_times
from inference.feedback import FeedbackItem, feedback_record
from inference.rollup import rollup_refresh
from inference.serving import PredictRequest, predict_batch
from registry.artifacts import artifact_dump
from registry.evaluation import evaluate_for_task, feature_specs
from registry.models import (
    Flavor,
    ModelVersion,
    RegisteredModel,
    Task,
    VersionSource,
    VersionStatus,
)

PRICING_FEATURES = ["basket_value", "items", "discount", "loyalty_years"]
OFFER_FEATURES = ["basket_value", "items", "discount", "loyalty_years"]
OFFERS = ["bundle", "discount", "upgrade"]
TRAIN_ROWS = 1500
SEED = 7
FEEDBACK_SHARE = 0.85
_NAMESPACE = uuid.UUID("0b7d6c1e-5f0a-4a57-9d3e-7a4f8e2c6b91")


def basket_frame(*, rows: int, seed: int) -> pd.DataFrame:
    """Baskets with their price and the offer that suits them (the rules above)."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "basket_value": np.round(rng.gamma(3.0, 30.0, rows), 2),
            "items": rng.integers(1, 15, rows).astype(float),
            "discount": np.round(rng.uniform(0, 0.3, rows), 3),
            "loyalty_years": rng.integers(0, 16, rows).astype(float),
        }
    )
    value, items = frame.basket_value, frame["items"]
    loyalty, discount = frame.loyalty_years, frame.discount
    frame["price"] = np.round(
        6
        + 0.92 * value * (1 - discount)
        + 1.4 * items
        + 2.5 * loyalty
        - 0.08 * loyalty**2
        + 12 * (value > 120)
        + rng.normal(0, 3, rows),
        2,
    )
    appeal = np.column_stack(
        [
            items / 3 - 1.5 * (value > 150),
            discount * 12 - loyalty / 8 + 1.5 * (items < 3),
            value / 60 + 2 * (value > 150),
        ]
    ) + rng.normal(0, 0.8, (rows, 3))
    frame["offer"] = [OFFERS[i] for i in appeal.argmax(axis=1)]
    return frame


@dataclass(frozen=True)
class DemoVersion:
    label: str
    estimator: Any
    description: str
    role: str
    weight: int
    status: str


@dataclass(frozen=True)
class DemoGroup:
    name: str
    model_name: str
    task: str
    features: list[str]
    target: str
    description: str
    versions: tuple[DemoVersion, ...]


def _scaled(estimator: Any) -> Pipeline:
    return Pipeline([("scale", StandardScaler()), ("model", estimator)])


PRICING = DemoGroup(
    name="Dynamic Pricing",
    model_name="Basket Pricing",
    task=Task.REGRESSION,
    features=PRICING_FEATURES,
    target="price",
    description=(
        "Basket prices quoted live: the ridge regression 1.0 is champion; gradient boosting "
        "2.0 prices every request in shadow, so the two are compared on the same baskets."
    ),
    versions=(
        DemoVersion(
            "1.0",
            _scaled(Ridge(alpha=1.0)),
            "Ridge regression on standardised features.",
            Role.CHAMPION,
            100,
            VersionStatus.PRODUCTION,
        ),
        DemoVersion(
            "2.0",
            GradientBoostingRegressor(n_estimators=60, max_depth=3, random_state=SEED),
            "Gradient boosting, 60 trees of depth 3.",
            Role.SHADOW,
            0,
            VersionStatus.STAGING,
        ),
    ),
)

NEXT_BEST_ACTION = DemoGroup(
    name="Next Best Action",
    model_name="Next Best Offer",
    task=Task.MULTICLASS,
    features=OFFER_FEATURES,
    target="offer",
    description=(
        "Which of three offers (bundle, discount, upgrade) to show a shopper: logistic "
        "regression 1.0 on 80% of the traffic, a random forest 1.1 on 20%, and extra trees "
        "1.2 in shadow."
    ),
    versions=(
        DemoVersion(
            "1.0",
            _scaled(LogisticRegression(max_iter=1000)),
            "Multinomial logistic regression on standardised features.",
            Role.CHAMPION,
            80,
            VersionStatus.PRODUCTION,
        ),
        DemoVersion(
            "1.1",
            RandomForestClassifier(n_estimators=25, max_depth=7, random_state=SEED),
            "Random forest, 25 trees of depth 7.",
            Role.CHALLENGER,
            20,
            VersionStatus.STAGING,
        ),
        DemoVersion(
            "1.2",
            ExtraTreesClassifier(n_estimators=25, max_depth=8, random_state=SEED),
            "Extremely randomised trees, 25 of depth 8.",
            Role.SHADOW,
            0,
            VersionStatus.STAGING,
        ),
    ),
)

DEMO_TASK_GROUPS = (PRICING, NEXT_BEST_ACTION)


@cache
def _trained(name: str) -> dict[str, tuple[bytes, dict]]:
    """label -> (skops artifact, metadata); deterministic, so trained once per process."""
    demo = next(d for d in DEMO_TASK_GROUPS if d.name == name)
    frame = basket_frame(rows=TRAIN_ROWS, seed=SEED)
    X_train, X_test, y_train, y_test = train_test_split(
        frame[demo.features], frame[demo.target], test_size=0.25, random_state=SEED
    )
    out = {}
    for version in demo.versions:
        estimator = copy.deepcopy(version.estimator).fit(X_train, y_train)
        metadata = {
            "name": demo.model_name,
            "task": demo.task,
            "features": feature_specs(X_train),
            **evaluate_for_task(
                demo.task,
                estimator,
                X_train=X_train,
                X_test=X_test,
                y_test=y_test,
                feature_names=demo.features,
            ),
            "training": {
                "dataset": f"synthetic baskets (inference/demo_tasks.py, seed {SEED})",
                "rows": int(len(X_train)),
                "test_rows": int(len(X_test)),
                "target": demo.target,
            },
        }
        out[version.label] = (artifact_dump(estimator), metadata)
    return out


@transaction.atomic
def demo_task_models_seed(demo: DemoGroup, *, owner: Any) -> dict[str, ModelVersion]:
    """Register the demo group's model and versions (existing ones are kept)."""
    from registry.services import model_version_register, registered_model_create

    model = RegisteredModel.objects.filter(name=demo.model_name).first() or registered_model_create(
        name=demo.model_name,
        task=demo.task,
        description=demo.description,
        owner=owner,
        tags=["demo", "tabular", "retail"],
    )
    existing = {v.version: v for v in model.versions.all()}
    out: dict[str, ModelVersion] = {}
    trained = None
    for version in demo.versions:
        if version.label in existing:
            out[version.label] = existing[version.label]
            continue
        trained = trained or _trained(demo.name)
        artifact, metadata = trained[version.label]
        out[version.label] = model_version_register(
            model=model,
            version=version.label,
            flavor=Flavor.SKLEARN,
            metadata=copy.deepcopy(metadata),
            artifact=artifact,
            status=version.status,
            source=VersionSource.DEMO,
            source_ref="inference.demo_tasks",
            created_by=owner,
            description=version.description,
        )
    return out


def demo_task_request_id(demo: DemoGroup, index: int) -> uuid.UUID:
    return uuid.uuid5(_NAMESPACE, f"{demo.name}:{index}")


def _group(demo: DemoGroup, versions: dict[str, ModelVersion], actor: Any) -> ModelGroup:
    group = ModelGroup.objects.filter(name=demo.name).first()
    if group is not None:
        return group
    return group_create(
        name=demo.name,
        description=demo.description,
        members=[MemberSpec(versions[v.label], v.role, v.weight) for v in demo.versions],
        created_by=actor,
    )


def _plain_rows(frame: pd.DataFrame) -> list[dict]:
    return [
        {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
        for row in frame.to_dict("records")
    ]


def _outcome(demo: DemoGroup, value: Any) -> Any:
    return float(value) if demo.task == Task.REGRESSION else str(value)


def demo_task_traffic_seed(demo: DemoGroup, *, requests: int, actor: Any) -> int:
    """Create the demo group (if missing) and replay `requests` predictions with feedback;
    returns how many rows this call logged (0 when the traffic is already there)."""
    versions = demo_task_models_seed(demo, owner=actor)
    group = _group(demo, versions, actor)
    log = tables.inference_log_model(group.table_name)
    before = log.objects.count()
    if before >= requests:
        return 0
    rng = np.random.default_rng(SEED + 1)
    frame = basket_frame(rows=requests, seed=SEED + 100)
    times = demo_times(requests, now=timezone.now(), rng=rng)
    instances = [
        PredictRequest(
            inputs=row,
            routing_key=f"shopper-{index:05d}",
            request_id=demo_task_request_id(demo, index),
            logged_at=times[index],
        )
        for index, row in enumerate(_plain_rows(frame[demo.features]))
    ]
    for start in range(0, requests, CHUNK):
        predict_batch(slug=group.slug, instances=instances[start : start + CHUNK])
    answered = rng.random(requests) < FEEDBACK_SHARE
    outcomes = [
        FeedbackItem(request_id=demo_task_request_id(demo, i), outcome=_outcome(demo, value))
        for i, value in enumerate(frame[demo.target])
        if answered[i]
    ]
    for start in range(0, len(outcomes), CHUNK):
        feedback_record(group=group, items=outcomes[start : start + CHUNK])
    rollup_refresh(group=group)
    return log.objects.count() - before


def demo_tasks_seed(*, requests: int, actor: Any) -> dict[str, int]:
    """Both demo groups; {group name: rows logged now}."""
    return {
        demo.name: demo_task_traffic_seed(demo, requests=requests, actor=actor)
        for demo in DEMO_TASK_GROUPS
    }
