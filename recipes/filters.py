"""The recipe list's one filter definition: the Model Library page and GET /api/v1/recipes/."""

from __future__ import annotations

import django_filters
from django.db.models import Q, QuerySet

from core.filters import HubFilterSet
from recipes.models import Family, Level, Recipe, RecipeStatus


class RecipeFilterSet(HubFilterSet):
    family = django_filters.ChoiceFilter(choices=Family.choices, label="Family")
    level = django_filters.ChoiceFilter(choices=Level.choices, label="Level")
    status = django_filters.ChoiceFilter(
        choices=RecipeStatus.choices,
        method="with_status",
        label="Has a version with this status",
    )
    q = django_filters.CharFilter(
        method="search", max_length=200, label="Search: name, slug, description or tag"
    )

    class Meta:
        model = Recipe
        fields = ["family", "level", "status", "q"]

    def with_status(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(versions__status=value).distinct() if value else queryset

    def search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        value = value.strip()
        if not value:
            return queryset
        # Tags are a JSON list: matched as text, which works alike on PostgreSQL and SQLite.
        return queryset.filter(
            Q(name__icontains=value)
            | Q(slug__icontains=value)
            | Q(description__icontains=value)
            | Q(tags__icontains=value.lower())
        )

    @property
    def active(self) -> bool:
        return any((self.data.get(name) or "").strip() for name in self.Meta.fields)
