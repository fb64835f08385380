from django.contrib.auth.management import create_permissions
from django.db import migrations

from core.roles import roles_sync


def roles(apps, schema_editor):
    # Permissions are normally made after all migrations; the roles need them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, verbosity=0, apps=apps)
        app_config.models_module = None
    roles_sync(apps.get_model("auth", "Group"), apps.get_model("auth", "Permission"))


class Migration(migrations.Migration):
    dependencies = [
        ("hub", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("core", "0002_default_team"),
        ("registry", "0002_team"),
        ("groups", "0003_team"),
        ("inference", "0003_labelled_rows_index"),
        ("training", "0002_job_datasets_events"),
        ("providers", "0002_provider_health_models"),
    ]
    operations = [migrations.RunPython(roles, migrations.RunPython.noop)]
