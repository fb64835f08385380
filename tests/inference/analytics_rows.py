"""Test data for the analytics: a group made directly (the signal creates its table) and
inference rows bulk-created into that table."""

import uuid
from datetime import datetime, timedelta

import numpy as np
from django.db import transaction
from django.utils import timezone

from groups.models import Membership, ModelGroup
from inference.tables import inference_log_model
from registry.models import ModelVersion, RegisteredModel

FEATURES = ["income", "debt_ratio", "age"]


def make_group(*, name: str = "Live Credit Scoring", roles=(("champion", 90), ("challenger", 10))):
    """A group with one version per (role, weight); returns (group, [versions])."""
    slug = name.lower().replace(" ", "-")
    with transaction.atomic():
        model = RegisteredModel.objects.create(name=f"{name} model", slug=f"{slug}-model")
        versions = [
            ModelVersion.objects.create(
                model=model,
                version=f"1.{i + 2}",
                metadata={"features": [{"name": f, "type": "number"} for f in FEATURES]},
            )
            for i in range(len(roles))
        ]
        group = ModelGroup.objects.create(name=name, slug=slug, features=FEATURES)
        for version, (role, weight) in zip(versions, roles, strict=True):
            Membership.objects.create(group=group, model_version=version, role=role, weight=weight)
    group.refresh_from_db()
    return group, versions


def fill_rows(
    group,
    versions,
    *,
    n: int = 600,
    seed: int = 0,
    now: datetime | None = None,
    span: timedelta = timedelta(days=10),
    labelled_share: float = 0.8,
    skill=(1.2, 2.0),
    shares=(0.9, 0.1),
):
    """Rows spread over `span` before `now`: a member with more `skill` separates better."""
    rng = np.random.default_rng(seed)
    now = now or timezone.now()
    model = inference_log_model(group.table_name)
    members = list(group.memberships.select_related("model_version"))
    role_of = {m.model_version_id: m.role for m in members}
    rows = []
    for _ in range(n):
        i = int(rng.choice(len(versions), p=shares))
        version = versions[i]
        y = int(rng.random() < 0.3)
        logit = skill[i] * (y - 0.5) * 2 + rng.normal(0, 1.2)
        score = float(np.round(1 / (1 + np.exp(-logit)), 3))  # rounded: ties happen
        income = int(rng.integers(10_000, 120_000))
        labelled = rng.random() < labelled_share
        created = now - span * float(rng.random())
        rows.append(
            model(
                request_id=uuid.uuid4(),
                model_version_id=version.pk,
                role=role_of[version.pk],
                routing_key=f"applicant-{int(rng.integers(0, 200))}",
                inputs={
                    "income": income,
                    "debt_ratio": float(np.round(rng.random(), 3)),
                    "age": int(rng.integers(18, 80)),
                },
                prediction=int(score >= 0.5),
                score=score,
                explanation={"income": 0.1, "debt_ratio": -0.2, "age": 0.05},
                base_value=-0.4,
                latency_ms=float(np.round(rng.gamma(2.0, 3.0), 3)),
                fallback=bool(rng.random() < 0.01),
                error="",
                created_at=created,
                outcome=y if labelled else None,
                outcome_at=created + timedelta(minutes=5) if labelled else None,
            )
        )
    model.objects.bulk_create(rows, batch_size=500)
    return rows
