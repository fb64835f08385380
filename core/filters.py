"""The base every list's FilterSet extends: a bad parameter is a 400 naming it."""

from __future__ import annotations

import django_filters
from django.db.models import QuerySet

from core.errors import ServiceError


class HubFilterSet(django_filters.FilterSet):
    """`filtered()` returns the filtered queryset or raises a ServiceError (400) whose
    errors name each bad parameter; pages and API views call it alike."""

    def filtered(self) -> QuerySet:
        if not self.is_valid():
            errors = {field: [str(m) for m in messages] for field, messages in self.errors.items()}
            raise ServiceError("Invalid filter.", errors)
        return self.qs


def filter_queryset(filterset_class: type[HubFilterSet], params, queryset: QuerySet, **kwargs) -> QuerySet:
    return filterset_class(params, queryset=queryset, **kwargs).filtered()
