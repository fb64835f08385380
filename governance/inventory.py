"""The model inventory: every registered model with its inventory fields, the versions it
has in production, the groups it serves and its open alerts; overdue reviews first.

One FilterSet serves the page, its CSV and Excel exports, and the API."""

from __future__ import annotations

import io
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import django_filters
from django.db.models import BooleanField, Case, Q, QuerySet, Value, When
from django.utils import timezone

from core.filters import HubFilterSet
from core.permissions import visible
from groups.models import Membership
from inference.csv_stream import csv_cell, csv_stream
from monitoring.models import Alert, AlertStatus
from registry.models import (
    ModelVersion,
    RegisteredModel,
    Task,
    ValidationStatus,
    VersionStatus,
    risk_tiers,
)


def _tier_choices() -> list[tuple[str, str]]:
    return [(t, f"Tier {t}") for t in risk_tiers()]


class InventoryFilterSet(HubFilterSet):
    q = django_filters.CharFilter(method="search", label="Search")
    team = django_filters.CharFilter(field_name="team__slug", label="Team (slug)")
    task = django_filters.ChoiceFilter(choices=Task.choices)
    risk_tier = django_filters.ChoiceFilter(choices=_tier_choices, label="Risk tier")
    validation_status = django_filters.ChoiceFilter(choices=ValidationStatus.choices)
    owner = django_filters.CharFilter(field_name="owner__username", label="Owner (username)")
    validator = django_filters.CharFilter(
        field_name="validator__username", label="Validator (username)"
    )
    overdue = django_filters.BooleanFilter(method="filter_overdue", label="Review overdue")

    class Meta:
        model = RegisteredModel
        fields = ["q", "team", "task", "risk_tier", "validation_status", "owner", "validator"]

    def search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(
            Q(name__icontains=value)
            | Q(slug__icontains=value)
            | Q(business_purpose__icontains=value)
            | Q(intended_use__icontains=value)
        )

    def filter_overdue(self, queryset: QuerySet, name: str, value: bool | None) -> QuerySet:
        if value is None:
            return queryset
        return queryset.filter(review_overdue=value)


def inventory_queryset(user, *, today: date | None = None) -> QuerySet:
    """The models `user` may read, overdue reviews first, then the next reviews due."""
    today = today or timezone.localdate()
    models = RegisteredModel.objects.select_related("owner", "validator", "team").annotate(
        review_overdue=Case(
            When(next_review_on__lt=today, then=Value(True)),
            default=Value(False),
            output_field=BooleanField(),
        )
    )
    return visible(user, models).order_by("-review_overdue", "next_review_on", "name")


@dataclass
class ServedGroup:
    slug: str
    name: str
    members: list[str] = field(default_factory=list)  # "1.2 champion 90%"

    @property
    def label(self) -> str:
        return f"{self.name} ({', '.join(self.members)})"


@dataclass
class InventoryRow:
    model: RegisteredModel
    production_versions: list[str]
    groups: list[ServedGroup]
    open_alerts: int

    @property
    def overdue(self) -> bool:
        return bool(getattr(self.model, "review_overdue", False))

    def as_dict(self) -> dict[str, Any]:
        m = self.model
        return {
            "name": m.name,
            "slug": m.slug,
            "url": m.get_absolute_url(),
            "team": m.team.slug,
            "task": m.task,
            "owner": m.owner.get_username() if m.owner else None,
            "business_purpose": m.business_purpose,
            "intended_use": m.intended_use,
            "known_limitations": m.known_limitations,
            "risk_tier": m.risk_tier or None,
            "validator": m.validator.get_username() if m.validator else None,
            "validation_status": m.validation_status,
            "validated_on": m.validated_on.isoformat() if m.validated_on else None,
            "next_review_on": m.next_review_on.isoformat() if m.next_review_on else None,
            "review_overdue": self.overdue,
            "production_versions": self.production_versions,
            "groups": [{"slug": g.slug, "name": g.name, "members": g.members} for g in self.groups],
            "open_alerts": self.open_alerts,
        }


def _served(model_ids: list[int]) -> dict[int, dict[int, ServedGroup]]:
    """model id -> group id -> the model's versions serving in it, one query."""
    out: dict[int, dict[int, ServedGroup]] = defaultdict(dict)
    memberships = (
        Membership.objects.filter(model_version__model_id__in=model_ids, group__is_active=True)
        .select_related("group", "model_version")
        .order_by("group__name", "role", "-weight")
    )
    for m in memberships:
        served = out[m.model_version.model_id].setdefault(
            m.group_id, ServedGroup(slug=m.group.slug, name=m.group.name)
        )
        served.members.append(f"{m.model_version.version} {m.role} {m.weight}%")
    return out


def _alert_counts(served: dict[int, dict[int, ServedGroup]]) -> dict[int, int]:
    """model id -> open (unresolved) alerts of the groups it serves."""
    group_ids = {gid for groups in served.values() for gid in groups}
    per_group: dict[int, int] = defaultdict(int)
    alerts = Alert.objects.filter(group_id__in=group_ids).exclude(status=AlertStatus.RESOLVED)
    for group_id in alerts.values_list("group_id", flat=True):
        per_group[group_id] += 1
    return {mid: sum(per_group[g] for g in groups) for mid, groups in served.items()}


def inventory_rows(models: Iterable[RegisteredModel]) -> list[InventoryRow]:
    models = list(models)
    ids = [m.pk for m in models]
    served = _served(ids)
    alerts = _alert_counts(served)
    production: dict[int, list[str]] = defaultdict(list)
    for model_id, version in (
        ModelVersion.objects.filter(model_id__in=ids, status=VersionStatus.PRODUCTION)
        .order_by("created_at")
        .values_list("model_id", "version")
    ):
        production[model_id].append(version)
    return [
        InventoryRow(
            model=m,
            production_versions=production.get(m.pk, []),
            groups=list(served.get(m.pk, {}).values()),
            open_alerts=alerts.get(m.pk, 0),
        )
        for m in models
    ]


EXPORT_COLUMNS = (
    "name",
    "slug",
    "team",
    "task",
    "owner",
    "risk_tier",
    "validator",
    "validation_status",
    "validated_on",
    "next_review_on",
    "review_overdue",
    "business_purpose",
    "intended_use",
    "known_limitations",
    "production_versions",
    "groups",
    "open_alerts",
)


def _export_values(row: InventoryRow) -> list[Any]:
    data = row.as_dict()
    data["production_versions"] = ", ".join(row.production_versions)
    data["groups"] = "; ".join(g.label for g in row.groups)
    data["review_overdue"] = "yes" if row.overdue else "no"
    return [data[c] for c in EXPORT_COLUMNS]


def _chunks(models: QuerySet, size: int = 500) -> Iterator[InventoryRow]:
    batch: list[RegisteredModel] = []
    for model in models.iterator(chunk_size=size):
        batch.append(model)
        if len(batch) == size:
            yield from inventory_rows(batch)
            batch = []
    if batch:
        yield from inventory_rows(batch)


def inventory_csv(models: QuerySet) -> Iterator[str]:
    rows = ([csv_cell(v) for v in _export_values(row)] for row in _chunks(models))
    return csv_stream(list(EXPORT_COLUMNS), rows)


def inventory_xlsx(models: QuerySet) -> bytes:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("Inventory")
    sheet.append(list(EXPORT_COLUMNS))
    for row in _chunks(models):
        sheet.append([csv_cell(v) for v in _export_values(row)])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
