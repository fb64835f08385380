"""Test data for the serving tests: a real group of real (small) scikit-learn versions,
an API key, and a few helpers to call the endpoints and read the group's log."""

import json
from dataclasses import dataclass

from django.core.files.storage import default_storage
from django.db.models import Model
from django.test import Client

from groups.models import ModelGroup
from groups.routing import choose
from groups.selectors import routing_table
from groups.services import MemberSpec, group_create
from groups.services import api_key_create as _api_key_create
from inference import tables
from registry.demo import CREDIT_FEATURES, credit_dataset
from registry.models import ModelVersion
from tests.factories import default_team
from tests.registry.factories import RegisteredModelFactory, SklearnVersionFactory


@dataclass
class ServingSetup:
    group: ModelGroup
    champion: ModelVersion  # logistic regression pipeline (LinearExplainer)
    challenger: ModelVersion  # gradient boosting (TreeExplainer)
    shadow: ModelVersion | None
    key: str

    @property
    def predict_url(self) -> str:
        return f"/api/v1/groups/{self.group.slug}/predict"

    @property
    def feedback_url(self) -> str:
        return f"/api/v1/groups/{self.group.slug}/feedback"


def serving_group(
    *,
    name: str = "Live Credit Scoring",
    weights: tuple[int, int] = (90, 10),
    shadow: bool = False,
    deletion_policy: str = "drop",
) -> ServingSetup:
    model = RegisteredModelFactory(name=f"{name} model")
    champion = SklearnVersionFactory(model=model, version="1.2", estimator="logistic")
    challenger = SklearnVersionFactory(model=model, version="1.3", estimator="tree")
    members = [
        MemberSpec(champion, "champion", weights[0]),
        MemberSpec(challenger, "challenger", weights[1]),
    ]
    shadow_version = None
    if shadow:
        shadow_version = SklearnVersionFactory(model=model, version="1.4", estimator="tree")
        members.append(MemberSpec(shadow_version, "shadow", 0))
    group = group_create(name=name, members=members, deletion_policy=deletion_policy)
    _, key = api_key_create(name=f"{name} workflow", groups=[group])
    return ServingSetup(group, champion, challenger, shadow_version, key)


def api_key_create(
    *, name: str, groups=(), all_groups: bool = False, scopes=("predict",), team=None
):
    """A key of the default team (the factories' groups belong to it), `predict` scope."""
    return _api_key_create(
        name=name, team=team or default_team(), scopes=scopes, groups=groups, all_groups=all_groups
    )


def credit_rows(count: int = 5, seed: int = 11) -> list[dict]:
    frame = credit_dataset(rows=count, seed=seed)[CREDIT_FEATURES]
    return [
        {k: (v.item() if hasattr(v, "item") else v) for k, v in r.items()}
        for r in frame.to_dict("records")
    ]


def post(client: Client, url: str, body: dict, key: str | None) -> "object":
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return client.post(url, data=json.dumps(body), content_type="application/json", headers=headers)


def log_model(group: ModelGroup) -> type[Model]:
    return tables.inference_log_model(group.table_name)


def log_rows(group: ModelGroup) -> list[dict]:
    return list(log_model(group).objects.order_by("id").values())


def routing_key_for(group: ModelGroup, version: ModelVersion) -> str:
    """A routing key whose stable hash routes to `version` under the current weights."""
    table = routing_table(group.slug)
    for i in range(10_000):
        key = f"applicant-{i}"
        if choose(table.members, routing_key=key).version_id == version.pk:
            return key
    raise AssertionError("no routing key reaches this version")


def break_artifact(version: ModelVersion) -> None:
    """Make a version impossible to load, as a lost or corrupted artifact file would."""
    with default_storage.open(version.artifact.name, "wb") as handle:
        handle.write(b"not a skops file")
