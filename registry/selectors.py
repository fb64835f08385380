"""Registry reads that need care: the models and versions a user may see (the list is
filtered by registry.filters.ModelFilterSet, on the page and in the API alike), and what the
model page's Analytics tab shows."""

from dataclasses import dataclass

from django.db.models import Count, Max, Prefetch, QuerySet
from django.shortcuts import get_object_or_404

from core.models import Team
from core.permissions import is_org_admin, user_team_ids, visible
from registry.models import ModelVersion, RegisteredModel, Task, VersionStatus


def model_list(user) -> QuerySet[RegisteredModel]:
    """The models `user` may read, newest version first in each, for ModelFilterSet."""
    qs = (
        visible(user, RegisteredModel.objects.all())
        .select_related("owner", "team")
        .annotate(
            version_count=Count("versions", distinct=True),
            last_version_at=Max("versions__created_at"),
        )
    )
    latest = ModelVersion.objects.only(
        "id", "model_id", "version", "status", "created_at"
    ).order_by("-created_at")
    return qs.prefetch_related(Prefetch("versions", queryset=latest)).order_by("name")


def model_get(user, slug: str) -> RegisteredModel:
    return get_object_or_404(
        visible(user, RegisteredModel.objects.select_related("owner", "team")), slug=slug
    )


def version_get(user, slug: str, version: str) -> ModelVersion:
    queryset = ModelVersion.objects.select_related(
        "model", "model__team", "parent", "provider", "created_by", "trusted_by", "mapping_provider"
    )
    return get_object_or_404(
        visible(user, queryset, team_field="model__team"), model__slug=slug, version=version
    )


def registering_teams(user) -> list[Team]:
    """The teams `user` may register new models into (an Admin: every team)."""
    teams = (
        Team.objects.all()
        if is_org_admin(user)
        else Team.objects.filter(pk__in=user_team_ids(user))
    )
    return list(teams)


def all_tags(user) -> list[str]:
    tags: set[str] = set()
    for row in visible(user, RegisteredModel.objects.all()).values_list("tags", flat=True):
        tags.update(str(t) for t in row or [])
    return sorted(tags)


# The KPI cards of the Analytics tab; every other metric goes in the collapsible sections.
KEY_METRICS = {
    Task.BINARY: ["auc_roc", "accuracy", "f1", "log_loss", "brier"],
    # "f1" for multiclass documents imported before macro F1 had its own name.
    Task.MULTICLASS: ["accuracy", "f1_macro", "f1", "log_loss", "top_2_accuracy"],
    Task.REGRESSION: ["mae", "rmse", "r2", "mape"],
    Task.TEXT_GENERATION: ["accuracy", "f1"],
}
LOWER_IS_BETTER = {"log_loss", "brier", "rmse", "mae", "mape", "median_absolute_error"}
# Descriptive numbers: a difference in them is neither better nor worse (a bias is better
# nearer 0, on either side).
NEUTRAL_METRICS = {"n_test", "positive_rate", "mean_error"}
METRIC_LABELS = {
    "auc_roc": "AUC-ROC",
    "auc_pr": "AUC-PR (average precision)",
    "accuracy": "Accuracy",
    "precision": "Precision",
    "recall": "Recall",
    "f1": "F1",
    "log_loss": "Log loss",
    "brier": "Brier score",
    "rmse": "RMSE",
    "mae": "MAE",
    "r2": "R²",
    "positive_rate": "Positive rate",
    "f1_macro": "Macro F1",
    "f1_weighted": "Weighted F1",
    "top_2_accuracy": "Top-2 accuracy",
    "mape": "MAPE (rows with a non-zero actual)",
    "median_absolute_error": "Median absolute error",
    "mean_error": "Mean error (bias, predicted − actual)",
    "n_test": "Hold-out rows",
}


@dataclass(frozen=True)
class MetricRow:
    name: str
    label: str
    value: float | None
    other: float | None = None  # the compared version's value
    lower_is_better: bool = False

    @property
    def delta(self) -> float | None:
        if self.value is None or self.other is None:
            return None
        return self.value - self.other

    @property
    def delta_text(self) -> str:
        delta = self.delta
        if delta is None:
            return ""
        if self.name in NEUTRAL_METRICS:
            return f"{delta:+.4f}" if self.name != "n_test" else f"{delta:+,.0f}"
        verdict = {True: "better", False: "worse", None: "same"}[self.better]
        return f"{delta:+.4f} ({verdict})"

    @property
    def better(self) -> bool | None:
        delta = self.delta
        if delta is None or delta == 0 or self.name in NEUTRAL_METRICS:
            return None
        return (delta < 0) if self.lower_is_better else (delta > 0)


def metric_rows(metrics: dict, other: dict | None, names: list[str]) -> list[MetricRow]:
    return [
        MetricRow(
            name=name,
            label=METRIC_LABELS.get(name, name.replace("_", " ").capitalize()),
            value=metrics.get(name),
            other=(other or {}).get(name) if other is not None else None,
            lower_is_better=name in LOWER_IS_BETTER,
        )
        for name in names
    ]


def version_metric_tables(
    version: ModelVersion, compare: ModelVersion | None
) -> tuple[list[MetricRow], list[MetricRow]]:
    """(KPI rows, every other metric) for a version, with the compared version's values."""
    metrics = version.metadata.get("metrics", {}) or {}
    other = (compare.metadata.get("metrics", {}) or {}) if compare else None
    key = [
        m for m in KEY_METRICS.get(version.model.task, []) if m in metrics or (other and m in other)
    ]
    names = list(metrics) + [m for m in (other or {}) if m not in metrics]
    rest = [m for m in names if m not in key]
    return metric_rows(metrics, other, key), metric_rows(metrics, other, rest)


@dataclass(frozen=True)
class VersionAnalytics:
    version: ModelVersion | None
    compare: ModelVersion | None
    versions: list[ModelVersion]
    kpis: list[MetricRow]
    other_metrics: list[MetricRow]
    charts: list[dict]
    features: list[dict]  # declared features with their reference summary, for the details


def _chosen_versions(
    versions: list[ModelVersion], version: str, compare: str
) -> tuple[ModelVersion | None, ModelVersion | None]:
    by_label = {v.version: v for v in versions}
    default = next((v for v in versions if v.status == VersionStatus.PRODUCTION), None)
    chosen = by_label.get(version) or default or (versions[0] if versions else None)
    if not compare or chosen is None or compare == chosen.version:
        return chosen, None
    return chosen, by_label.get(compare)


def _section(version: ModelVersion | None, key: str) -> dict:
    if version is None:
        return {}
    return version.metadata.get(key, {}) or {}


def version_analytics(
    model: RegisteredModel, *, version: str = "", compare: str = ""
) -> VersionAnalytics:
    """What the Analytics tab shows: the chosen version (default: production, else newest),
    optionally compared with a second one, metric by metric."""
    from registry.charts import version_charts

    versions = list(model.versions.order_by("-created_at"))
    chosen, other = _chosen_versions(versions, version, compare)
    if chosen is None:
        return VersionAnalytics(None, None, versions, [], [], [], [])
    kpis, rest = version_metric_tables(chosen, other)
    charts = version_charts(
        _section(chosen, "charts"),
        label=f"v{chosen.version}",
        other=_section(other, "charts") if other else None,
        other_label=f"v{other.version}" if other else "",
    )
    reference = _section(chosen, "reference").get("features", {})
    features = [
        {**spec, "reference": reference.get(spec.get("name"), {})}
        for spec in chosen.metadata.get("features", []) or []
    ]
    return VersionAnalytics(chosen, other, versions, kpis, rest, charts, features)
