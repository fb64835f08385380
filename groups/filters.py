"""The one filter of the group list, used by its page and by `GET /api/v1/groups/`."""

from __future__ import annotations

import django_filters
from django.db.models import Q, QuerySet

from core.filters import BooleanFilter, HubFilterSet
from groups.models import ModelGroup
from registry.models import Task


class GroupFilterSet(HubFilterSet):
    q = django_filters.CharFilter(
        method="search", label="Name, slug or description contains", max_length=200
    )
    task = django_filters.ChoiceFilter(choices=Task.choices)
    is_active = BooleanFilter()
    team = django_filters.CharFilter(field_name="team__slug", label="Team (slug)", max_length=200)

    class Meta:
        model = ModelGroup
        fields = ["q", "task", "is_active", "team"]

    def search(self, queryset: QuerySet[ModelGroup], name: str, value: str) -> QuerySet[ModelGroup]:
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(
            Q(name__icontains=value) | Q(slug__icontains=value) | Q(description__icontains=value)
        )
