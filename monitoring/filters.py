"""The one filter of the alert list, used by the Monitoring tab and GET /api/v1/monitoring/alerts/."""

from __future__ import annotations

import django_filters
from django.db.models import QuerySet

from core.filters import BooleanFilter, HubFilterSet
from monitoring.models import Alert, AlertStatus, Severity


class AlertFilterSet(HubFilterSet):
    group = django_filters.CharFilter(
        field_name="group__slug", label="Group (slug)", max_length=200
    )
    status = django_filters.ChoiceFilter(choices=AlertStatus.choices)
    severity = django_filters.ChoiceFilter(choices=Severity.choices)
    open = BooleanFilter(method="only_open", label="Open or acknowledged (not resolved)")
    source = django_filters.CharFilter(max_length=200)

    class Meta:
        model = Alert
        fields = ["group", "status", "severity", "open", "source"]

    def only_open(
        self, queryset: QuerySet[Alert], name: str, value: bool | None
    ) -> QuerySet[Alert]:
        if value is None:
            return queryset
        if value:
            return queryset.exclude(status=AlertStatus.RESOLVED)
        return queryset.filter(status=AlertStatus.RESOLVED)
