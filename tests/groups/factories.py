"""Groups test data: versions that declare features (on the registry's factories), and
groups made through the real service."""

import factory

from groups.models import RoutingMode
from groups.services import MemberSpec, group_create
from registry.models import ModelVersion, VersionStatus
from tests.registry.factories import (
    ModelVersionFactory as RegistryVersionFactory,
)
from tests.registry.factories import (
    RegisteredModelFactory,
    minimal_metadata,
)

CREDIT_FEATURES = ["income", "debt_ratio", "age", "open_accounts"]

__all__ = ["CREDIT_FEATURES", "ModelVersionFactory", "RegisteredModelFactory", "group_with_members"]


class ModelVersionFactory(RegistryVersionFactory):
    """A production version declaring `features` (default: a few credit features)."""

    class Params:
        features = CREDIT_FEATURES

    status = VersionStatus.PRODUCTION
    metadata = factory.LazyAttribute(lambda o: minimal_metadata(list(o.features)))


def group_with_members(
    *,
    name: str = "Live Credit Scoring",
    weights: tuple[int, ...] = (90, 10),
    shadows: int = 0,
    routing_mode: str = RoutingMode.WEIGHTED,
    deletion_policy: str = "archive",
    created_by=None,
) -> tuple:
    """A group through the real service: the first weight is the champion's, the rest challengers'."""
    model = RegisteredModelFactory()
    versions: list[ModelVersion] = [
        ModelVersionFactory(model=model) for _ in range(len(weights) + shadows)
    ]
    members = [
        MemberSpec(version, "champion" if i == 0 else "challenger", weight)
        for i, (version, weight) in enumerate(zip(versions, weights, strict=False))
    ]
    members += [MemberSpec(v, "shadow", 0) for v in versions[len(weights) :]]
    group = group_create(
        name=name,
        routing_mode=routing_mode,
        deletion_policy=deletion_policy,
        members=members,
        created_by=created_by,
    )
    return group, versions


def make_api_key(
    *,
    name: str = "workflow",
    scopes: tuple[str, ...] = ("predict",),
    groups=(),
    all_groups: bool = False,
    team=None,
    expires_at=None,
):
    """(ApiKey, plaintext) through the real service, in the default team unless given."""
    from groups.services import api_key_create
    from tests.factories import default_team

    return api_key_create(
        name=name,
        team=team or default_team(),
        scopes=list(scopes),
        groups=list(groups),
        all_groups=all_groups,
        expires_at=expires_at,
    )
