"""The `batch_id` column (inference/tables.py) on every group's existing inference table:
rows logged by a batch job carry their job's id; live rows leave it null. Tables made
from now on get it with the rest of their DDL."""

from django.db import migrations


def add_missing_columns(apps, schema_editor):
    from inference import tables

    ModelGroup = apps.get_model("groups", "ModelGroup")
    Archived = apps.get_model("inference", "ArchivedInferenceTable")
    names = [
        *ModelGroup.objects.exclude(table_name="").values_list("table_name", flat=True),
        *Archived.objects.values_list("table_name", flat=True),
    ]
    for table_name in names:
        if tables.table_exists(table_name):
            tables.inference_table_add_missing_columns(table_name, schema_editor)


class Migration(migrations.Migration):
    dependencies = [
        ("inference", "0004_batch_jobs"),
        ("groups", "0002_apikey_rolechange"),
    ]

    operations = [
        migrations.RunPython(add_missing_columns, migrations.RunPython.noop),
    ]
