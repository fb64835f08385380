"""The one signal the design asks for: a group's inference table follows the group.

A group's table is created in the group's own transaction (a failing DDL rolls the group
back too), and on delete it is archived or dropped by the group's deletion policy.
"""

from typing import Any

from django.conf import settings
from django.utils import timezone

from groups.models import DeletionPolicy, ModelGroup
from inference import tables
from inference.models import ArchivedInferenceTable, LogRetention, RefusalCount
from inference.rollup import rollup_reset


def create_inference_table(
    sender: type[ModelGroup], instance: ModelGroup, created: bool, raw: bool = False, **kwargs: Any
) -> None:
    if not created or raw:
        return
    table_name = tables.inference_table_name(instance.slug)
    # PostgreSQL: partitioned by month, this month and the next ones made now (beat makes
    # the later ones, inference/partitions.py).
    tables.inference_table_create(table_name, months=settings.HUB_LOG_PARTITIONS_AHEAD)
    ModelGroup.objects.filter(pk=instance.pk).update(table_name=table_name)
    instance.table_name = table_name


def retire_inference_table(sender: type[ModelGroup], instance: ModelGroup, **kwargs: Any) -> None:
    rollup_reset(group=instance)  # roll-ups of a table that is going: never archived
    LogRetention.objects.filter(group=instance).delete()
    RefusalCount.objects.filter(group=instance).delete()
    table_name = instance.table_name
    if not table_name or not tables.table_exists(table_name):
        return
    if instance.deletion_policy == DeletionPolicy.DROP:
        tables.inference_table_drop(table_name)
        return
    archived_name = tables.archived_table_name(instance.slug, timezone.now())
    row_count = tables.inference_log_model(table_name).all_rows.count()
    tables.inference_table_rename(table_name, archived_name)
    ArchivedInferenceTable.objects.create(
        table_name=archived_name,
        original_table_name=table_name,
        group_name=instance.name,
        group_slug=instance.slug,
        row_count=row_count,
    )
