"""Demo registry content (filled in by the registry issue)."""

from registry.models import ModelVersion


def demo_models_seed(*, owner) -> dict[str, ModelVersion]:
    raise NotImplementedError("registry demo seeding arrives with the registry issue")
