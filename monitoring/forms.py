from django import forms

from groups.models import ModelGroup, Role
from monitoring.models import Operator, Period, Severity
from registry.models import ModelVersion


def _member_versions(group: ModelGroup):
    return ModelVersion.objects.filter(memberships__group=group).select_related("model")


class AlertRuleForm(forms.Form):
    name = forms.CharField(max_length=200)
    metric = forms.CharField(
        max_length=200, initial="drift.share", help_text="e.g. drift.feature:income"
    )
    operator = forms.ChoiceField(choices=Operator.choices, initial=Operator.GE)
    threshold = forms.FloatField()
    windows = forms.IntegerField(min_value=1, max_value=100, initial=1)
    period = forms.ChoiceField(choices=Period.choices, initial=Period.DAY)
    severity = forms.ChoiceField(choices=Severity.choices, initial=Severity.WARNING)
    model_version = forms.ModelChoiceField(
        queryset=ModelVersion.objects.none(), required=False, empty_label="every member"
    )
    role = forms.ChoiceField(choices=[("", "any role"), *Role.choices], required=False)

    def __init__(self, *args, group: ModelGroup, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["model_version"].queryset = _member_versions(group)


class ReferenceWindowForm(forms.Form):
    model_version = forms.ModelChoiceField(queryset=ModelVersion.objects.none())
    days = forms.IntegerField(min_value=1, max_value=90, initial=7)

    def __init__(self, *args, group: ModelGroup, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["model_version"].queryset = _member_versions(group)


class ReferenceUploadForm(forms.Form):
    file = forms.FileField(
        help_text="CSV or Parquet: one column per feature, an optional `score` column."
    )


class AcknowledgeForm(forms.Form):
    note = forms.CharField(max_length=2000, required=False)
