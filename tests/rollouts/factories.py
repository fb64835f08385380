"""A servable group of two real scikit-learn versions (champion 100%, challenger 0%), a
predict-scoped API key, and helpers that send traffic and feedback through the API."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from django.test import Client

from groups.models import ModelGroup
from groups.services import MemberSpec, api_key_create, group_create
from registry.demo import CREDIT_FEATURES, credit_dataset
from registry.models import ModelVersion
from tests.factories import default_team
from tests.registry.factories import RegisteredModelFactory, SklearnVersionFactory


@dataclass
class RolloutSetup:
    group: ModelGroup
    champion: ModelVersion
    challenger: ModelVersion
    key: str

    @property
    def api(self) -> str:
        return f"/api/v1/groups/{self.group.slug}/rollouts/"


def rollout_group(*, name: str = "Credit Rollout", requires_approval: bool = False) -> RolloutSetup:
    model = RegisteredModelFactory(name=f"{name} model")
    champion = SklearnVersionFactory(model=model, version="1.0", estimator="logistic")
    challenger = SklearnVersionFactory(model=model, version="2.0", estimator="tree")
    group = group_create(
        name=name,
        members=[MemberSpec(champion, "champion", 100), MemberSpec(challenger, "challenger", 0)],
        deletion_policy="drop",
        requires_approval=requires_approval,
    )
    _, key = api_key_create(
        name=f"{name} workflow", team=default_team(), scopes=["predict"], groups=[group]
    )
    return RolloutSetup(group, champion, challenger, key)


def post_json(client: Client, url: str, body: dict, key: str | None = None):
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return client.post(url, data=json.dumps(body), content_type="application/json", headers=headers)


def credit_inputs(count: int, seed: int) -> list[dict]:
    frame = credit_dataset(rows=count, seed=seed)[CREDIT_FEATURES]
    return [
        {k: (v.item() if hasattr(v, "item") else v) for k, v in r.items()}
        for r in frame.to_dict("records")
    ]


# Given a predict answer, the true outcome to send back (None: no feedback).
Truth = Callable[[dict], object]


def challenger_right(answer: dict) -> int:
    """The challenger is right exactly where the champion is wrong."""
    label = int(answer["prediction"])
    return label if answer["role"] == "challenger" else 1 - label


def champion_right(answer: dict) -> int:
    label = int(answer["prediction"])
    return label if answer["role"] == "champion" else 1 - label


def traffic(
    client: Client, setup: RolloutSetup, count: int, *, seed: int, truth: Truth | None
) -> list[dict]:
    """`count` predictions through the predict API (one batch), then their feedback through
    the feedback API (one batch); returns the answers."""
    instances = [{"inputs": row, "explain": False} for row in credit_inputs(count, seed)]
    response = post_json(
        client, f"/api/v1/groups/{setup.group.slug}/predict", {"instances": instances}, setup.key
    )
    assert response.status_code == 200, response.content
    answers = response.json()["results"]
    if truth is not None:
        items = [{"request_id": a["request_id"], "outcome": truth(a)} for a in answers]
        feedback = post_json(
            client, f"/api/v1/groups/{setup.group.slug}/feedback", {"items": items}, setup.key
        )
        assert feedback.status_code == 200, feedback.content
    return answers


def tick(*args: str) -> str:
    """`manage.py rollouts_tick [args]`; returns what it printed."""
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("rollouts_tick", *args, stdout=out)
    return out.getvalue()
