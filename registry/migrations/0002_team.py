import django.db.models.deletion

import core.models
from django.db import migrations, models


def to_default_team(apps, schema_editor):
    team = apps.get_model("core", "Team").objects.get(slug="default")
    apps.get_model("registry", "registeredmodel").objects.filter(team__isnull=True).update(team=team)


class Migration(migrations.Migration):
    dependencies = [("registry", "0001_initial"), ("core", "0002_default_team")]
    operations = [
        migrations.AlterModelOptions(
            name="modelversion",
            options={
                "ordering": ["model__name", "-created_at"],
                "permissions": [("trust_modelversion", "Can trust the types of a skops artifact")],
            },
        ),
        migrations.AddField(
            model_name="registeredmodel",
            name="team",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="models",
                to="core.team",
            ),
        ),
        migrations.RunPython(to_default_team, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="registeredmodel",
            name="team",
            field=models.ForeignKey(
                default=core.models.default_team_id,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="models",
                to="core.team",
            ),
        ),
    ]
