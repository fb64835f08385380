"""Batch prediction pages: the upload form (a group's page links it), a job's progress
page (polled by htmx), cancel, and the result download."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.errors import ServiceError
from core.permissions import require, visible
from groups.models import ModelGroup
from inference.access import group_for
from inference.batch import services
from inference.batch_api import (
    ADD_PERM,
    CHANGE_PERM,
    VIEW_PERM,
    BatchFilterSet,
    batch_get,
    batch_jobs,
    result_response,
)
from inference.models import BatchFormat, BatchJob, BatchStatus

PAGE_SIZE = 25


class BatchUploadForm(forms.Form):
    file = forms.FileField(help_text="CSV with a header, JSON Lines (.jsonl) or Parquet.")
    key_column = forms.CharField(
        required=False, max_length=200, help_text="Routed like a live request's routing_key."
    )
    output_format = forms.ChoiceField(
        choices=[("", "Same as the input"), *BatchFormat.choices], required=False
    )
    keep_columns = forms.CharField(
        required=False,
        initial="all",
        label="Input columns kept in the result",
        help_text="all, none, or column names separated by commas (e.g. applicant, region).",
    )
    explain = forms.BooleanField(required=False, initial=True, label="Explain (SHAP)")
    log = forms.BooleanField(required=False, initial=True, label="Log to the group's table")
    shadow_columns = forms.BooleanField(required=False, label="Shadows' columns in the result")

    def options(self) -> services.BatchOptions:
        data = self.cleaned_data
        return services.BatchOptions(
            key_column=data["key_column"].strip(),
            explain=data["explain"],
            log=data["log"],
            output_format=data["output_format"],
            keep_columns=services.keep_columns_parse(data["keep_columns"]),
            shadow_columns=data["shadow_columns"],
        )


def _show_error(form: BatchUploadForm, error: ServiceError) -> None:
    for field, problems in (error.errors or {}).items():
        for problem in problems:
            form.add_error(field if field in form.fields else None, problem)
    if not error.errors:
        form.add_error(None, error.message)


@require_http_methods(["GET", "POST"])
def group_batch_create(request: HttpRequest, slug: str) -> HttpResponse:
    group = group_for(request.user, slug, ADD_PERM)
    form = BatchUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            job = services.batch_create(
                upload=form.cleaned_data["file"],
                options=form.options(),
                group=group,
                user=request.user,
            )
        except ServiceError as error:
            _show_error(form, error)
        else:
            messages.success(request, f"Batch queued: {job.file_name}.")
            return redirect(job.get_absolute_url())
    return render(request, "inference/batch_new.html", {"group": group, "form": form})


@require_GET
def batch_list(request: HttpRequest) -> HttpResponse:
    """Every batch job the user may see, newest first, filtered by the API's FilterSet."""
    require(request.user, VIEW_PERM)
    filterset = BatchFilterSet(request.GET, queryset=batch_jobs(request.user))
    errors: dict[str, list[str]] = {}
    try:
        jobs = filterset.filtered()
    except ServiceError as error:
        jobs, errors = BatchJob.objects.none(), error.errors or {"": [error.message]}
    page = Paginator(jobs.order_by("-created_at"), PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "page": page,
        "query": query.urlencode(),
        "filters": {name: request.GET.get(name, "") for name in ("status", "group")},
        "filtered": any(request.GET.get(name) for name in ("status", "group")),
        "errors": errors,
        "statuses": BatchStatus.choices,
        "groups": visible(request.user, ModelGroup.objects.order_by("name"), group_field="slug"),
    }
    return render(request, "inference/batch_list.html", context, status=400 if errors else 200)


@require_GET
def batch_detail(request: HttpRequest, pk: str) -> HttpResponse:
    job = batch_get(request.user, pk, VIEW_PERM)
    context = {"job": job, "progress": services.batch_progress(job)}
    template = "inference/batch_detail.html#live" if request.htmx else "inference/batch_detail.html"
    return render(request, template, context)


@require_POST
def batch_cancel(request: HttpRequest, pk: str) -> HttpResponse:
    job = batch_get(request.user, pk, CHANGE_PERM)
    try:
        services.batch_cancel(job=job)
    except ServiceError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, "Batch cancelled.")
    return redirect(job.get_absolute_url())


@require_GET
def batch_result(request: HttpRequest, pk: str) -> HttpResponse:
    job = batch_get(request.user, pk, VIEW_PERM)
    try:
        return result_response(job)
    except ServiceError as error:
        messages.error(request, error.message)
        return redirect(job.get_absolute_url())
