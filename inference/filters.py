"""The inference log's filters: one FilterSet for the browser page, its CSV export and
`GET /api/v1/groups/<slug>/inferences`. Every bad value (a non-finite number, a NUL byte,
an unknown feature) is a 400 naming its parameter (core.filters.HubFilterSet)."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

import django_filters
from django import forms
from django.db.models import Q, QuerySet
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter

from core.filters import HubFilterSet, IsoDateTimeFilter
from groups.models import Role
from inference.aggregates import NEGATIVE_OUTCOME, POSITIVE_OUTCOME
from inference.windows import WINDOW_LABELS, WINDOWS

_CONDITION = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]{0,62})\s*(>=|<=|!=|==|=|>|<)\s*(.+?)\s*$")
_LOOKUPS = {
    ">": "gt",
    ">=": "gte",
    "<": "lt",
    "<=": "lte",
    "=": "exact",
    "==": "exact",
    "!=": "exact",
}
_YES, _NO = ("yes", "true", "1"), ("no", "false", "0")


@dataclass(frozen=True)
class InputCondition:
    feature: str
    operator: str
    value: float | str | bool

    def __str__(self) -> str:
        return f"{self.feature} {self.operator} {self.value}"

    def q(self) -> Q:
        # A JSON key lookup: the key and the value travel as query parameters.
        lookup = Q(**{f"inputs__{self.feature}__{_LOOKUPS[self.operator]}": self.value})
        return ~lookup if self.operator == "!=" else lookup


def _condition_value(raw: str) -> float | str | bool:
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\"":
        return raw[1:-1]
    try:
        value = float(raw)
    except ValueError:
        return raw
    if value != value or value in (float("inf"), float("-inf")):
        raise forms.ValidationError("Compare with a finite number.")
    return value


def parse_condition(text: str, *, features: list[str] | None = None) -> InputCondition:
    """`income > 50000` -> InputCondition("income", ">", 50000.0); refuses anything else."""
    match = _CONDITION.match(text)
    if not match:
        raise forms.ValidationError(
            "Write one condition such as income > 50000 (operators: > >= < <= = !=)."
        )
    feature, operator, raw_value = match.groups()
    if features and feature not in features:
        raise forms.ValidationError(
            f"Unknown feature {feature!r}: use one of {', '.join(features)}."
        )
    value = _condition_value(raw_value)
    if isinstance(value, str) and operator not in ("=", "==", "!="):
        raise forms.ValidationError(f"{operator} needs a number, got {raw_value!r}.")
    return InputCondition(feature, operator, value)


class InputConditionField(forms.CharField):
    """One condition on an input feature, checked against the group's features."""

    def __init__(self, *, features: list[str] | None = None, **kwargs: object) -> None:
        self.features = features or []
        super().__init__(**kwargs)

    def clean(self, value: str | None) -> InputCondition | None:
        text = super().clean(value)
        return parse_condition(text, features=self.features) if text else None


class FloatFilter(django_filters.NumberFilter):
    field_class = forms.FloatField  # refuses nan and infinity, unlike a plain float()


class IntegerFilter(django_filters.NumberFilter):
    field_class = forms.IntegerField


class InputConditionFilter(django_filters.CharFilter):
    field_class = InputConditionField


class InferenceFilterSet(HubFilterSet):
    """Filters of a group's inference log; pass `features=group.features`."""

    window = django_filters.ChoiceFilter(
        choices=list(WINDOW_LABELS.items()),
        method="filter_window",
        empty_label=None,
        help_text="24h, 7d, 30d or all (the default)",
    )
    since = IsoDateTimeFilter(
        field_name="created_at", lookup_expr="gte", help_text="ISO date-time: logged at or after"
    )
    until = IsoDateTimeFilter(
        field_name="created_at", lookup_expr="lte", help_text="ISO date-time: logged at or before"
    )
    role = django_filters.ChoiceFilter(
        choices=Role.choices, help_text="champion, challenger or shadow"
    )
    version = IntegerFilter(
        field_name="model_version_id", min_value=1, help_text="a model version id"
    )
    score_min = FloatFilter(
        field_name="score", lookup_expr="gte", min_value=0, max_value=1, help_text="0-1"
    )
    score_max = FloatFilter(
        field_name="score", lookup_expr="lte", min_value=0, max_value=1, help_text="0-1"
    )
    has_outcome = django_filters.ChoiceFilter(
        choices=[(v, v) for v in (*_YES, *_NO)], method="filter_has_outcome", help_text="yes or no"
    )
    outcome = django_filters.ChoiceFilter(
        choices=[("0", "0"), ("1", "1")],
        method="filter_outcome",
        help_text="0 or 1 (binary groups)",
    )
    q = django_filters.CharFilter(
        method="filter_q", max_length=200, help_text="a request id or a routing key"
    )
    source = django_filters.ChoiceFilter(
        choices=[("live", "live"), ("batch", "batch"), ("all", "all")],
        method="filter_source",
        help_text="live (the default), batch (rows logged by batch jobs) or all",
    )
    batch = django_filters.UUIDFilter(field_name="batch_id", help_text="a batch job's id")
    input = InputConditionFilter(
        method="filter_input",
        max_length=500,
        help_text="one condition on an input feature, e.g. income > 50000",
    )

    def __init__(
        self, data=None, queryset=None, *, features: list[str] | None = None, **kwargs
    ) -> None:
        super().__init__(data, queryset, **kwargs)
        self.filters["input"].extra["features"] = list(features or [])

    def filter_queryset(self, queryset: QuerySet) -> QuerySet:
        if not self.form.cleaned_data.get("source") and not self.form.cleaned_data.get("batch"):
            queryset = queryset.filter(batch_id__isnull=True)  # live rows unless asked
        return super().filter_queryset(queryset)

    def filter_source(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        if value == "all":
            return queryset
        return queryset.filter(batch_id__isnull=value == "live")

    def filter_window(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        span = WINDOWS.get(value)
        return queryset if span is None else queryset.filter(created_at__gte=timezone.now() - span)

    def filter_has_outcome(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(outcome__isnull=value not in _YES)

    def filter_outcome(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(POSITIVE_OUTCOME if value == "1" else NEGATIVE_OUTCOME)

    def filter_q(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        try:
            return queryset.filter(Q(request_id=uuid.UUID(value)) | Q(routing_key=value))
        except ValueError:
            return queryset.filter(routing_key=value)

    def filter_input(self, queryset: QuerySet, name: str, value: InputCondition) -> QuerySet:
        return queryset.filter(value.q())

    @classmethod
    def narrowing(cls, params: Any) -> bool:
        """Whether any filter but the time window narrows the rows (the page's empty state)."""
        return any(params.get(name) for name in cls.base_filters if name != "window")


_PARAMETER_TYPES = {
    FloatFilter: OpenApiTypes.DOUBLE,
    IntegerFilter: OpenApiTypes.INT,
    IsoDateTimeFilter: OpenApiTypes.DATETIME,
}


def _parameter(name: str, filter_: django_filters.Filter) -> OpenApiParameter:
    enum = None
    if isinstance(filter_, django_filters.ChoiceFilter):
        enum = [str(value) for value, _ in filter_.extra["choices"]]
    return OpenApiParameter(
        name,
        _PARAMETER_TYPES.get(type(filter_), OpenApiTypes.STR),
        OpenApiParameter.QUERY,
        required=False,
        enum=enum,
        description=str(filter_.extra.get("help_text", "")),
    )


def filter_parameters(filterset_class: type[HubFilterSet]) -> list[OpenApiParameter]:
    """The FilterSet's parameters for the OpenAPI schema (its filters have no model to
    introspect: each group's log is its own table)."""
    return [_parameter(name, f) for name, f in filterset_class.base_filters.items()]
