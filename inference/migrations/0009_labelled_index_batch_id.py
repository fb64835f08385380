"""The labelled rows' index with `batch_id` in its INCLUDE (inference/tables.py) on every
group's existing inference table: tables made before it keep the old definition, which
makes the comparison's labelled-rows read fetch a heap page per row. Built CONCURRENTLY
(on a partitioned table partition by partition) under a temporary name, then swapped in:
predictions keep flowing. Idempotent: an up-to-date index is left alone."""

from django.db import migrations


def upgrade_indexes(apps, schema_editor):
    from inference import tables

    ModelGroup = apps.get_model("groups", "ModelGroup")
    for table_name in ModelGroup.objects.exclude(table_name="").values_list("table_name", flat=True):
        if tables.table_exists(table_name):
            tables.inference_table_add_missing_indexes(table_name, schema_editor)


class Migration(migrations.Migration):
    # CREATE INDEX CONCURRENTLY cannot run inside a transaction.
    atomic = False

    dependencies = [
        ("inference", "0008_refusal_counts"),
    ]

    operations = [
        migrations.RunPython(upgrade_indexes, migrations.RunPython.noop, atomic=False),
    ]
