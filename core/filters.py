"""The base every list's FilterSet extends: a bad parameter is a 400 naming it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import django_filters
from django import forms
from django.db.models import QuerySet
from django.utils import timezone
from django_filters.fields import IsoDateTimeField
from drf_spectacular.utils import OpenApiParameter

from core.errors import ServiceError

_BOOLEANS = {"true": True, "1": True, "false": False, "0": False, "unknown": None, "": None}


class _BooleanSelect(forms.NullBooleanSelect):
    def value_from_datadict(self, data: Any, files: Any, name: str) -> Any:
        return data.get(name)  # the raw value: the field says whether it is one


class StrictBooleanField(forms.NullBooleanField):
    """true/false (or 1/0); empty or "unknown" (the page's select) is no filter. Django's
    turns any other value into "no filter", silently."""

    widget = _BooleanSelect

    def to_python(self, value: Any) -> bool | None:
        if value is None or isinstance(value, bool):
            return value
        found = _BOOLEANS.get(str(value).strip().lower(), "bad")
        if found == "bad":
            raise forms.ValidationError("Use true or false.", code="invalid")
        return found

    def validate(self, value: bool | None) -> None:
        pass


class BooleanFilter(django_filters.BooleanFilter):
    field_class = StrictBooleanField


class UtcDateTimeField(IsoDateTimeField):
    """An ISO date-time, in UTC: PostgreSQL refuses offsets Python accepts (e.g. -21:47)."""

    def to_python(self, value: Any) -> datetime | None:
        moment = super().to_python(value)
        if moment is None or timezone.is_naive(moment):
            return moment
        try:
            return moment.astimezone(UTC)
        except OverflowError:
            raise forms.ValidationError("Out of range.", code="invalid") from None


class IsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcDateTimeField


class HubFilterSet(django_filters.FilterSet):
    """`filtered()` returns the filtered queryset or raises a ServiceError (400) whose
    errors name each bad parameter; pages and API views call it alike."""

    def filtered(self) -> QuerySet:
        if not self.is_valid():
            errors = {field: [str(m) for m in messages] for field, messages in self.errors.items()}
            raise ServiceError("Invalid filter.", errors)
        return self.qs


def filter_queryset(
    filterset_class: type[HubFilterSet], params, queryset: QuerySet, **kwargs
) -> QuerySet:
    return filterset_class(params, queryset=queryset, **kwargs).filtered()


def _parameter_type(flt: django_filters.Filter) -> type:
    if isinstance(flt, django_filters.BooleanFilter):
        return bool
    if isinstance(flt, django_filters.NumberFilter):
        return float
    return str


def filter_parameters(filterset_class: type[HubFilterSet]) -> list[OpenApiParameter]:
    """The FilterSet's parameters for the OpenAPI schema of a plain APIView, so the schema
    says exactly what the FilterSet accepts (generic views get this from DjangoFilterBackend)."""
    parameters = []
    for name, flt in filterset_class.base_filters.items():
        choices = getattr(flt, "extra", {}).get("choices")
        parameters.append(
            OpenApiParameter(
                name,
                _parameter_type(flt),
                description=str(flt.label or ""),
                enum=[value for value, _ in choices] if choices else None,
            )
        )
    return parameters
