"""The partial index of labelled rows (inference/tables.py) on every group's existing
inference table; tables made from now on get it with the rest of their DDL."""

from django.db import migrations


def add_missing_indexes(apps, schema_editor):
    from inference import tables

    ModelGroup = apps.get_model("groups", "ModelGroup")
    for table_name in ModelGroup.objects.exclude(table_name="").values_list("table_name", flat=True):
        if tables.table_exists(table_name):
            tables.inference_table_add_missing_indexes(table_name, schema_editor)


class Migration(migrations.Migration):
    # CREATE INDEX CONCURRENTLY cannot run inside a transaction.
    atomic = False

    dependencies = [
        ("inference", "0002_hourly_rollups"),
        ("groups", "0002_apikey_rolechange"),
    ]

    operations = [
        migrations.RunPython(add_missing_indexes, migrations.RunPython.noop, atomic=False),
    ]
