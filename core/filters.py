"""The base every list's FilterSet extends: a bad parameter is a 400 naming it."""

from __future__ import annotations

import django_filters
from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter

from core.errors import ServiceError


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
