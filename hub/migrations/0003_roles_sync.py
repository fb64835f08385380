import importlib

from django.db import migrations

# The same step as 0002 (permissions made now, then the roles synced), not a copy of it.
roles = importlib.import_module("hub.migrations.0002_roles").roles


class Migration(migrations.Migration):
    """The roles again, now that every app's models (and their permissions) exist: a change
    to core/roles.py comes with a migration like this one."""

    dependencies = [
        ("hub", "0002_roles"),
        ("registry", "0004_inventory"),
        ("groups", "0005_rolechange_evidence"),
        ("inference", "0007_log_partitions_retention"),
        ("training", "0005_runs"),
        ("monitoring", "0001_initial"),
        ("rollouts", "0001_initial"),
        ("recipes", "0002_assistant"),
        ("governance", "0001_initial"),
        ("axes", "0010_accessattemptexpiration"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]
    operations = [migrations.RunPython(roles, migrations.RunPython.noop)]
