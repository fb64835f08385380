"""Celery tasks: each calls one service."""

from celery import shared_task

# Batch prediction's tasks live with it; imported here so the worker registers them.
from inference.batch import tasks as batch_tasks  # noqa: F401
from inference.partitions import partitions_maintain_all
from inference.rollup import rollups_refresh_all


@shared_task(name="inference.rollups_refresh", ignore_result=True)
def rollups_refresh() -> int:
    """Beat: roll up every group's newly closed and dirty hours (a failed group is logged
    and tried again on the next beat, which is its retry)."""
    return rollups_refresh_all()


@shared_task(name="inference.partitions_maintain", ignore_result=True)
def partitions_maintain() -> dict[str, list[str]]:
    """Beat: every group's coming month partitions, then its retention policy
    (inference/partitions.py; PostgreSQL only)."""
    return partitions_maintain_all()
