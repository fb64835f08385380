from __future__ import annotations

from typing import Any

from django import forms

from groups.models import ModelGroup, Role
from registry.models import ModelVersion
from rollouts.decide import Guardrails
from rollouts.models import Goal, Metric
from rollouts.plans import DEFAULTS

GUARDRAIL_FIELDS = ("error_rate_max", "fallback_rate_max", "p99_latency_ratio_max", "srm_p_min")


class RolloutStartForm(forms.Form):
    """The group page's form: the API's body, with the issue's defaults filled in."""

    challenger = forms.ModelChoiceField(queryset=ModelVersion.objects.none())
    steps = forms.CharField(initial="5, 25, 50, 100", help_text="Challenger percentages, climbing.")
    step_min_minutes = forms.FloatField(min_value=0, initial=DEFAULTS["step_min_minutes"])
    step_max_minutes = forms.FloatField(min_value=0, initial=DEFAULTS["step_max_minutes"])
    min_labelled_per_step = forms.IntegerField(
        min_value=0, initial=DEFAULTS["min_labelled_per_step"]
    )
    metric = forms.ChoiceField(choices=Metric.choices, initial=DEFAULTS["metric"])
    goal = forms.ChoiceField(choices=Goal.choices, initial=DEFAULTS["goal"])
    margin = forms.FloatField(min_value=0, initial=DEFAULTS["margin"])
    alpha = forms.FloatField(min_value=0.0001, max_value=0.4999, initial=DEFAULTS["alpha"])
    error_rate_max = forms.FloatField(min_value=0, initial=Guardrails.error_rate_max)
    fallback_rate_max = forms.FloatField(min_value=0, initial=Guardrails.fallback_rate_max)
    p99_latency_ratio_max = forms.FloatField(min_value=0, initial=Guardrails.p99_latency_ratio_max)
    srm_p_min = forms.FloatField(min_value=0, max_value=1, initial=Guardrails.srm_p_min)
    shadow_first = forms.BooleanField(required=False)
    final_approval = forms.BooleanField(required=False)

    def __init__(self, *args: Any, group: ModelGroup, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["challenger"].queryset = (
            ModelVersion.objects.filter(memberships__group=group)
            .exclude(memberships__group=group, memberships__role=Role.CHAMPION)
            .select_related("model")
        )
        self.fields["challenger"].label_from_instance = lambda v: f"{v.model.name} {v.version}"

    def clean_steps(self) -> list[int]:
        try:
            return [int(part) for part in self.cleaned_data["steps"].replace(",", " ").split()]
        except ValueError as error:
            raise forms.ValidationError(
                "Whole percentages separated by commas, e.g. 5, 25, 50, 100."
            ) from error

    def plan(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        data.pop("challenger")
        data["guardrails"] = {name: data.pop(name) for name in GUARDRAIL_FIELDS}
        return data
