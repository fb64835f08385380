"""Demo traffic (filled in by the groups/serving issue)."""

from registry.models import ModelVersion


def demo_traffic_seed(*, versions: dict[str, ModelVersion], requests: int, actor) -> int:
    raise NotImplementedError("demo traffic arrives with the groups/serving issue")
