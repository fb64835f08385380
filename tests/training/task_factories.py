"""Regression and multiclass test data: a pricing group and a next-best-action group, each
with a decision log whose outcomes are a price (a number) or an offer (a class)."""

import uuid
from datetime import timedelta

import numpy as np
import pandas as pd
from django.utils import timezone

from groups.services import MemberSpec, group_create
from inference.tables import inference_log_model
from registry.models import Task
from tests.registry.factories import ModelVersionFactory, RegisteredModelFactory

PRICING_FEATURES = ["basket_value", "items", "loyalty_years", "discount"]
NBA_FEATURES = ["recency", "frequency", "monetary"]
OFFERS = ["bundle", "discount", "upgrade"]


def pricing_rows(*, rows: int = 400, seed: int = 11) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "basket_value": rng.uniform(5, 200, rows).round(2),
            "items": rng.integers(1, 12, rows).astype(float),
            "loyalty_years": rng.uniform(0, 10, rows).round(1),
            "discount": rng.uniform(0, 0.3, rows).round(3),
        }
    )
    price = (
        4
        + 0.9 * frame.basket_value
        + 1.5 * frame["items"]
        - 30 * frame.discount
        + 0.5 * frame.loyalty_years
    )
    # A few free baskets: the MAPE guard must leave them out.
    frame["price"] = (price + rng.normal(0, 4, rows)).round(2)
    frame.loc[frame.index[:3], "price"] = 0.0
    return frame


def nba_rows(*, rows: int = 450, seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "recency": rng.uniform(0, 90, rows).round(1),
            "frequency": rng.integers(1, 30, rows).astype(float),
            "monetary": rng.uniform(10, 500, rows).round(2),
        }
    )
    score = np.column_stack(
        [
            frame.frequency / 10 + rng.normal(0, 0.6, rows),
            frame.recency / 30 + rng.normal(0, 0.6, rows),
            frame.monetary / 170 + rng.normal(0, 0.6, rows),
        ]
    )
    frame["offer"] = [OFFERS[i] for i in score.argmax(axis=1)]
    return frame


def task_group(*, name: str, task: str, features: list[str], metrics: dict):
    """A group whose champion is a registered (metadata-only) version of a `task` model."""
    model = RegisteredModelFactory(name=f"{name} model", task=task)
    champion = ModelVersionFactory(
        model=model,
        version="1.0",
        metadata={
            "features": [{"name": f, "type": "numeric"} for f in features],
            "metrics": metrics,
        },
    )
    group = group_create(name=name, members=[MemberSpec(champion, "champion", 100)])
    return group, champion


def pricing_group(*, name: str = "Dynamic Pricing"):
    return task_group(
        name=name, task=Task.REGRESSION, features=PRICING_FEATURES, metrics={"mae": 5.0}
    )


def nba_group(*, name: str = "Next Best Action"):
    return task_group(
        name=name, task=Task.MULTICLASS, features=NBA_FEATURES, metrics={"accuracy": 0.6}
    )


def log_outcomes(group, version, frame: pd.DataFrame, *, label: str) -> int:
    """Replay `frame` into the group's inference table with its true outcome per row."""
    log = inference_log_model(group.table_name)
    features = [c for c in frame.columns if c != label]
    start = timezone.now() - timedelta(hours=1)
    log.objects.bulk_create(
        log(
            request_id=uuid.uuid4(),
            model_version_id=version.pk,
            role="champion",
            inputs={name: record[name] for name in features},
            prediction=None,
            score=None,
            created_at=start + timedelta(seconds=i),
            outcome=record[label],
            outcome_at=start + timedelta(seconds=i),
        )
        for i, record in enumerate(frame.to_dict(orient="records"))
    )
    return len(frame)
