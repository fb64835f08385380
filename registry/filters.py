"""The model list's one filter definition: the /models/ page and GET /api/v1/models/ use it."""

from __future__ import annotations

import django_filters
from django.db.models import Q, QuerySet

from core.filters import HubFilterSet
from registry.models import RegisteredModel, Task, VersionStatus


def _tag_filter(tag: str) -> Q:
    # JSON containment is not available on SQLite; the quoted string match works on both
    # backends because tags are stored as a JSON list of lower-case strings.
    return Q(tags__icontains=f'"{tag}"')


class ModelFilterSet(HubFilterSet):
    q = django_filters.CharFilter(
        method="search",
        max_length=200,
        label="Search: name, description, tag or exact version label",
    )
    task = django_filters.ChoiceFilter(choices=Task.choices, label="Task")
    status = django_filters.ChoiceFilter(
        choices=VersionStatus.choices, method="with_status", label="Has a version in this status"
    )
    tag = django_filters.CharFilter(method="with_tag", max_length=50, label="Tag")

    class Meta:
        model = RegisteredModel
        fields = ["q", "task", "status", "tag"]

    def search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(
            Q(name__icontains=value)
            | Q(description__icontains=value)
            | _tag_filter(value.lower())
            | Q(versions__version__iexact=value)
        ).distinct()

    def with_status(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(versions__status=value).distinct()

    def with_tag(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        value = value.strip().lower()
        return queryset.filter(_tag_filter(value)) if value else queryset

    @property
    def active(self) -> bool:
        return any((self.data.get(name) or "").strip() for name in self.Meta.fields)
