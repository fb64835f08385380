from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from training import selectors, services
from training.forms import JobForm, JoinGroupForm
from training.models import FineTuneJob, JobStatus


def _job_or_404(pk: int) -> FineTuneJob:
    try:
        return selectors.job_get(pk=pk)
    except FineTuneJob.DoesNotExist:
        return get_object_or_404(FineTuneJob, pk=pk)


@require_GET
def job_list(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", "")
    page = selectors.job_list_page(status=status, page_number=request.GET.get("page"))
    counts = selectors.job_status_counts()
    context = {
        "page": page,
        "status": status if status in JobStatus.values else "",
        "tabs": [(value, label, counts[value]) for value, label in JobStatus.choices],
        # The table refreshes itself while a job on it is still moving.
        "page_has_active": any(job.is_active for job in page.object_list),
    }
    template = "training/job_list.html#job_table" if request.htmx else "training/job_list.html"
    return render(request, template, context)


@require_http_methods(["GET", "POST"])
def job_new(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        # Other pages can link here prefilled: /training/new/?group=live-credit-scoring
        initial = {key: request.GET[key] for key in ("base", "source") if request.GET.get(key)}
        group = selectors.group_by_slug(slug=request.GET.get("group", ""))
        if group is not None:
            initial |= {"group": group.pk, "source": "decision_log"}
        form = JobForm(initial=initial)
        # Changing the base swaps in its hyperparameter fields.
        template = (
            "training/job_form.html#hyperparameters" if request.htmx else "training/job_form.html"
        )
        return render(request, template, {"form": form})
    form = JobForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            job = services.job_create(**form.job_arguments(), created_by=request.user)
        except services.TrainingValidationError as error:
            form.add_service_errors(error)
        else:
            messages.success(request, f"Job {job.pk} is queued: a worker picks it up in a moment.")
            return redirect(job)
    return render(request, "training/job_form.html", {"form": form}, status=400)


@require_GET
def job_detail(request: HttpRequest, pk: int) -> HttpResponse:
    job = _job_or_404(pk)
    groups = selectors.challenger_groups(version=job.result_version) if job.result_version else []
    context = {
        "job": job,
        "events": selectors.job_events_page(job=job, page_number=request.GET.get("page")),
        "chart": selectors.job_loss_chart(job=job),
        "chart_id": f"loss-chart-{job.pk}",
        "join_form": JoinGroupForm(groups=groups) if groups else None,
    }
    # While the job runs the page polls this view for its live part only.
    template = "training/job_detail.html#live" if request.htmx else "training/job_detail.html"
    return render(request, template, context)


@require_POST
def job_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_object_or_404(FineTuneJob, pk=pk)
    try:
        job = services.job_cancel(job=job, actor=request.user)
    except services.TrainingValidationError as error:
        messages.error(request, str(error))
    else:
        done = job.status == JobStatus.CANCELLED
        messages.success(
            request,
            f"Job {job.pk} cancelled." if done else f"Job {job.pk} stops at its next stage.",
        )
    return redirect(job)


@require_POST
def job_retry(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_object_or_404(FineTuneJob, pk=pk)
    try:
        retry = services.job_retry(job=job, actor=request.user)
    except services.TrainingValidationError as error:
        messages.error(request, str(error))
        return redirect(job)
    messages.success(request, f"Job {retry.pk} retries job {job.pk} on the same data.")
    return redirect(retry)


@require_POST
def job_join_group(request: HttpRequest, pk: int) -> HttpResponse:
    job = _job_or_404(pk)
    form = JoinGroupForm(
        request.POST, groups=selectors.challenger_groups(version=job.result_version)
    )
    if not form.is_valid():
        problems = "; ".join(
            f"{field}: {' '.join(errors)}" for field, errors in form.errors.items()
        )
        messages.error(request, f"Not added: {problems}")
        return redirect(job)
    group = form.cleaned_data["group"]
    try:
        membership = services.job_result_join_group(
            job=job, group=group, weight=form.cleaned_data["weight"], actor=request.user
        )
    except services.TrainingValidationError as error:
        messages.error(request, f"Not added: {error}")
        return redirect(job)
    messages.success(
        request,
        f"{membership.model_version} joined {group.name} as a challenger with {membership.weight}% of the traffic.",
    )
    return redirect(group)
