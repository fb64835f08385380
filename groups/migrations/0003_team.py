import django.db.models.deletion

import core.models
from django.db import migrations, models


def to_default_team(apps, schema_editor):
    team = apps.get_model("core", "Team").objects.get(slug="default")
    apps.get_model("groups", "modelgroup").objects.filter(team__isnull=True).update(team=team)


class Migration(migrations.Migration):
    dependencies = [("groups", "0002_apikey_rolechange"), ("core", "0002_default_team")]
    operations = [
        migrations.AlterModelOptions(
            name="modelgroup",
            options={
                "ordering": ["name"],
                "permissions": [
                    ("promote_modelgroup", "Can promote, roll back and set traffic"),
                    ("predict_modelgroup", "Can call predict and feedback"),
                ],
            },
        ),
        migrations.AddField(
            model_name="modelgroup",
            name="team",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="groups",
                to="core.team",
            ),
        ),
        migrations.RunPython(to_default_team, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="modelgroup",
            name="team",
            field=models.ForeignKey(
                default=core.models.default_team_id,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="groups",
                to="core.team",
            ),
        ),
    ]
