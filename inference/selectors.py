from datetime import datetime

from groups.models import ModelGroup
from inference.tables import inference_log_model


def predictions_since(since: datetime) -> int:
    """Predictions logged since a time, across every group's table."""
    total = 0
    for table_name in ModelGroup.objects.exclude(table_name="").values_list(
        "table_name", flat=True
    ):
        total += inference_log_model(table_name).objects.filter(created_at__gte=since).count()
    return total
