"""Reads for the training pages and API: job lists, the base choices, the loss chart."""

from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import Count, QuerySet

from groups.models import ModelGroup
from providers.models import ProviderKind
from registry.models import Flavor, ModelVersion, VersionStatus
from training.models import FineTuneJob, JobEvent, JobStatus, Preset

JOBS_PER_PAGE = 20
EVENTS_PER_PAGE = 50


def jobs(*, status: str = "") -> QuerySet[FineTuneJob]:
    queryset = FineTuneJob.objects.select_related(
        "model", "base_version__model", "dataset", "snapshot", "result_version__model", "created_by"
    )
    if status in JobStatus.values:
        queryset = queryset.filter(status=status)
    return queryset


def job_list_page(*, status: str = "", page_number: Any = None) -> Page:
    return Paginator(jobs(status=status), JOBS_PER_PAGE).get_page(page_number)


def job_status_counts() -> dict[str, int]:
    counts = dict(FineTuneJob.objects.values_list("status").annotate(n=Count("id")).order_by())
    return {status: counts.get(status, 0) for status in JobStatus.values}


def job_get(*, pk: int) -> FineTuneJob:
    return (
        jobs().select_related("base_version__provider", "snapshot__dataset", "retry_of").get(pk=pk)
    )


def job_events_page(*, job: FineTuneJob, page_number: Any = None) -> Page:
    """Newest first: the last stages are what a user watches."""
    return Paginator(job.events.order_by("-created_at", "-id"), EVENTS_PER_PAGE).get_page(
        page_number
    )


def job_loss_chart(*, job: FineTuneJob) -> dict[str, Any]:
    """Chart.js config (for hub/static/hub/charts.js) of the loss at every stage so far."""
    points = [
        metrics
        for metrics in JobEvent.objects.filter(job=job)
        .order_by("created_at", "id")
        .values_list("metrics", flat=True)
        if isinstance(metrics, dict) and ("train_loss" in metrics or "val_loss" in metrics)
    ]
    x_key = "step" if any("step" in p for p in points) else "stage"
    series = [("train_loss", "Training loss", "#2f5bea"), ("val_loss", "Hold-out loss", "#b42318")]
    datasets = [
        {
            "label": label,
            "data": [p.get(key) for p in points],
            "borderColor": color,
            "backgroundColor": color,
            "pointRadius": 2,
            "spanGaps": True,
        }
        for key, label, color in series
        if any(key in p for p in points)
    ]
    return {
        "type": "line",
        "data": {
            "labels": [p.get(x_key, i + 1) for i, p in enumerate(points)],
            "datasets": datasets,
        },
        "options": {
            "scales": {
                "x": {"title": {"display": True, "text": "step" if x_key == "step" else "stage"}},
                "y": {"title": {"display": True, "text": "log loss"}},
            },
        },
    }


def base_choices() -> list[tuple[str, list[tuple[str, str]]]]:
    """The form's base select: presets, local versions to retrain, OpenAI versions to fine-tune."""
    live = ModelVersion.objects.select_related("model", "provider").exclude(
        status=VersionStatus.RETIRED
    )
    local = [
        (f"version:{v.pk}", f"{v.model.name} {v.version} ({v.get_status_display().lower()})")
        for v in live.filter(flavor=Flavor.SKLEARN)
        .exclude(artifact="")
        .order_by("model__name", "-created_at")
    ]
    external = [
        (
            f"version:{v.pk}",
            f"{v.model.name} {v.version} on {v.provider} ({v.provider_model or 'default model'})",
        )
        for v in live.filter(flavor=Flavor.EXTERNAL, provider__kind=ProviderKind.OPENAI).order_by(
            "model__name", "-created_at"
        )
    ]
    groups = [
        (
            "Presets, trained here with scikit-learn",
            [(f"preset:{p.value}", p.label) for p in Preset],
        )
    ]
    if local:
        groups.append(("Retrain an existing version on new data", local))
    if external:
        groups.append(("Fine-tune on OpenAI", external))
    return groups


def group_by_slug(*, slug: str) -> ModelGroup | None:
    return ModelGroup.objects.filter(slug=slug).first() if slug else None


def challenger_groups(*, version: ModelVersion | None) -> list[ModelGroup]:
    """Groups the new version could join: active ones whose features it accepts, not yet in."""
    if version is None:
        return []
    declared = set(version.feature_names)
    return [
        group
        for group in ModelGroup.objects.filter(is_active=True).exclude(
            memberships__model_version=version
        )
        if set(group.features or []) <= declared
    ]
