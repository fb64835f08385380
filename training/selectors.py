"""Reads for the training pages and API: job lists, the base choices, the loss chart."""

from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import Count, QuerySet
from django.shortcuts import get_object_or_404

from core.permissions import actable, require, visible
from groups.models import ModelGroup
from providers.models import ProviderKind
from registry.models import Flavor, ModelVersion, Task, VersionStatus
from training.models import FineTuneJob, JobEvent, JobStatus, Preset
from training.trainers.base import LOSS_NAMES

JOBS_PER_PAGE = 20
EVENTS_PER_PAGE = 50


def all_jobs(*, status: str = "") -> QuerySet[FineTuneJob]:
    """Every job, newest first: for management commands (ops on the server) only."""
    queryset = FineTuneJob.objects.select_related(
        "model",
        "base_version__model",
        "dataset__group",
        "snapshot",
        "result_version__model",
        "created_by",
        "recipe_version__recipe",
        "evaluated_version__model",
    )
    return queryset.filter(status=status) if status in JobStatus.values else queryset


def jobs(*, user: Any) -> QuerySet[FineTuneJob]:
    """The jobs `user` (a person or a key) may read, newest first; JobFilterSet narrows them."""
    return visible(user, all_jobs(), team_field="team", group_field="dataset__group__slug")


def version_evaluations(*, version: Any, user: Any) -> list[FineTuneJob]:
    """The finished eval runs of a registered version, newest first (its evaluation gate)."""
    return list(
        jobs(user=user)
        .filter(kind="eval", evaluated_version=version, status=JobStatus.SUCCEEDED)
        .order_by("-finished_at")[:5]
    )


def job_list_page(*, queryset: QuerySet[FineTuneJob], page_number: Any = None) -> Page:
    return Paginator(queryset, JOBS_PER_PAGE).get_page(page_number)


def job_status_counts(*, user: Any) -> dict[str, int]:
    counts = dict(jobs(user=user).values_list("status").annotate(n=Count("id")).order_by())
    return {status: counts.get(status, 0) for status in JobStatus.values}


def job_get(*, pk: int, user: Any) -> FineTuneJob:
    """One job `user` may read; Http404 when it does not exist or is not theirs to see."""
    job = get_object_or_404(
        jobs(user=user).select_related("base_version__provider", "snapshot__dataset", "retry_of"),
        pk=pk,
    )
    require(user, "training.view_finetunejob", job)
    return job


def job_events_page(*, job: FineTuneJob, page_number: Any = None) -> Page:
    """Newest first: the last stages are what a user watches."""
    return Paginator(job.events.order_by("-created_at", "-id"), EVENTS_PER_PAGE).get_page(
        page_number
    )


def _loss_points(job: FineTuneJob) -> list[dict[str, Any]]:
    events = JobEvent.objects.filter(job=job).order_by("created_at", "id")
    return [
        metrics
        for metrics in events.values_list("metrics", flat=True)
        if isinstance(metrics, dict) and ("train_loss" in metrics or "val_loss" in metrics)
    ]


def job_loss_name(job: FineTuneJob) -> str:
    """The loss a job reports per stage: squared error for a regression, log loss otherwise."""
    task = job.model.task if job.model_id else None
    return LOSS_NAMES["squared_error" if task == Task.REGRESSION else "log_loss"]


def job_loss_chart(*, job: FineTuneJob) -> dict[str, Any]:
    """The loss at every stage so far, as chart data (components/chart.html draws it)."""
    points = _loss_points(job)
    x_key = "step" if any("step" in p for p in points) else "stage"
    series = [("train_loss", "Training loss"), ("val_loss", "Hold-out loss")]
    return {
        "kind": "timeseries",
        "title": "Loss per stage",
        "x_title": x_key,
        "y_title": job_loss_name(job),
        "labels": [p.get(x_key, i + 1) for i, p in enumerate(points)],
        "datasets": [
            {"label": label, "data": [p.get(key) for p in points]}
            for key, label in series
            if any(key in p for p in points)
        ],
    }


def base_choices(*, user: Any) -> list[tuple[str, list[tuple[str, str]]]]:
    """The form's base select: presets, and the versions of the user's teams' models to
    retrain (local) or fine-tune (OpenAI)."""
    live = actable(
        user,
        ModelVersion.objects.select_related("model", "provider").exclude(
            status=VersionStatus.RETIRED
        ),
        team_field="model__team",
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


def group_by_slug(*, slug: str, user: Any) -> ModelGroup | None:
    if not slug:
        return None
    return visible(user, ModelGroup.objects.all(), group_field="slug").filter(slug=slug).first()


def challenger_groups(
    *, version: ModelVersion | None, user: Any, acting: bool = True
) -> list[ModelGroup]:
    """Groups the new version could join: active ones whose features it accepts, not yet
    in; of the user's teams (acting), or every one they may read (to refuse the rest)."""
    if version is None:
        return []
    declared = set(version.feature_names)
    active = ModelGroup.objects.filter(is_active=True)
    scoped = actable(user, active) if acting else visible(user, active, group_field="slug")
    candidates = scoped.exclude(memberships__model_version=version)
    return [group for group in candidates if set(group.features or []) <= declared]
