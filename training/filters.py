"""The job list's one filter definition: the /training/ page and GET /api/v1/training/jobs/."""

from __future__ import annotations

import django_filters
from django.db.models import Q, QuerySet

from core.filters import HubFilterSet
from training.models import BaseKind, FineTuneJob, JobStatus, RunKind


class JobFilterSet(HubFilterSet):
    status = django_filters.ChoiceFilter(choices=JobStatus.choices, label="Status")
    kind = django_filters.ChoiceFilter(
        field_name="base_kind", choices=BaseKind.choices, label="Trainer (base kind)"
    )
    group = django_filters.CharFilter(
        field_name="dataset__group__slug",
        max_length=200,
        label="Slug of the group whose decision log the job trained on",
    )
    model = django_filters.CharFilter(
        field_name="model__slug",
        max_length=200,
        label="Slug of the model that receives the version",
    )
    q = django_filters.CharFilter(
        method="search", max_length=200, label="Search: job id, model, dataset, stage or error"
    )

    class Meta:
        model = FineTuneJob
        fields = ["status", "kind", "group", "model", "q"]

    def search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        value = value.strip()
        if not value:
            return queryset
        match = (
            Q(model__name__icontains=value)
            | Q(dataset__name__icontains=value)
            | Q(stage__icontains=value)
            | Q(error__icontains=value)
        )
        if value.lstrip("#").isdigit() and len(value) < 12:
            match |= Q(pk=int(value.lstrip("#")))
        return queryset.filter(match)

    @property
    def active(self) -> bool:
        return any((self.data.get(name) or "").strip() for name in self.Meta.fields)


class RunFilterSet(JobFilterSet):
    """GET /api/v1/runs/ and the run filters of the /training/ page: the same rows (every
    fine-tuning job is a train run), filtered by what the run does and its recipe."""

    kind = django_filters.ChoiceFilter(choices=RunKind.choices, label="Run kind")
    trainer = django_filters.ChoiceFilter(
        field_name="base_kind", choices=BaseKind.choices, label="Trainer (base kind)"
    )
    recipe = django_filters.CharFilter(
        field_name="recipe_version__recipe__slug", max_length=200, label="Slug of the recipe"
    )

    class Meta:
        model = FineTuneJob
        fields = ["status", "kind", "trainer", "recipe", "group", "model", "q"]
