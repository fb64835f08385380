from django.db import migrations


def default_team(apps, schema_editor):
    # Models and groups made before teams existed belong to this team until moved.
    apps.get_model("core", "Team").objects.get_or_create(
        slug="default", defaults={"name": "Default team"}
    )


class Migration(migrations.Migration):
    dependencies = [("core", "0001_initial")]
    operations = [migrations.RunPython(default_team, migrations.RunPython.noop)]
