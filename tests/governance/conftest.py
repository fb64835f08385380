"""Governance fixtures: roles synced (the Approver's validate permission before the lead's
roles migration), and the demo's Credit Scoring seeded through the demo's own helpers."""

from dataclasses import dataclass

import pytest
from django.contrib.auth.models import Group, Permission

from core import roles
from groups.models import ModelGroup
from inference.demo import DEMO_GROUP_NAME, demo_traffic_seed
from registry.demo import demo_inventory_seed, demo_models_seed
from registry.models import ModelVersion
from tests.groups.factories import make_api_key


@pytest.fixture(autouse=True)
def _roles(db):
    roles.roles_sync(Group, Permission)


@dataclass
class Demo:
    owner: object
    validator: object
    versions: dict[str, ModelVersion]
    group: ModelGroup


@pytest.fixture
def demo(user, approver) -> Demo:
    """Credit Scoring 1.2 (champion, 90%) and 1.3 (challenger, 10%) with replayed, labelled
    traffic, owned by `user` and validated by `approver`, as seed_demo makes them."""
    versions = demo_models_seed(owner=user)
    demo_traffic_seed(versions=versions, requests=300, actor=user)
    demo_inventory_seed(validator=approver)
    return Demo(
        owner=user,
        validator=approver,
        versions=versions,
        group=ModelGroup.objects.get(name=DEMO_GROUP_NAME),
    )


@pytest.fixture
def read_key(db):
    _, plaintext = make_api_key(name="reader", scopes=("read",), all_groups=True)
    return {"HTTP_AUTHORIZATION": f"Bearer {plaintext}"}


@pytest.fixture
def predict_key(db):
    _, plaintext = make_api_key(name="predictor", scopes=("predict",), all_groups=True)
    return {"HTTP_AUTHORIZATION": f"Bearer {plaintext}"}
