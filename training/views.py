"""The training pages. Reads go through selectors (only what the user may see); every
action checks its permission first (core.permissions.require: 403 otherwise), and the
templates leave out what the user may not do."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.errors import ServiceError
from core.permissions import require
from recipes import selectors as recipe_selectors
from training import selectors, services
from training.filters import JobFilterSet
from training.forms import JobForm, JoinGroupForm, RunForm
from training.models import JobStatus

ADD_JOB = "training.add_finetunejob"
CHANGE_JOB = "training.change_finetunejob"


@require_GET
def job_list(request: HttpRequest) -> HttpResponse:
    require(request.user, "training.view_finetunejob")
    filterset = JobFilterSet(request.GET, queryset=selectors.jobs(user=request.user))
    page = selectors.job_list_page(
        queryset=filterset.filtered(), page_number=request.GET.get("page")
    )
    counts = selectors.job_status_counts(user=request.user)
    status = filterset.form.cleaned_data.get("status") or ""
    context = {
        "page": page,
        "filterset": filterset,
        "status": status,
        "tabs": [(value, label, counts[value]) for value, label in JobStatus.choices],
        # The table refreshes itself while a job on it is still moving.
        "page_has_active": any(job.is_active for job in page.object_list),
    }
    template = "training/job_list.html#job_table" if request.htmx else "training/job_list.html"
    return render(request, template, context)


@require_http_methods(["GET", "POST"])
def job_new(request: HttpRequest) -> HttpResponse:
    # The page exists only to start a job: a user who may not is refused before the form.
    require(request.user, ADD_JOB)
    require(request.user, "training.add_dataset")
    if request.method == "GET":
        return _job_new_form(request)
    form = JobForm(request.POST, request.FILES, user=request.user)
    if form.is_valid():
        try:
            job = services.job_create(**form.job_arguments(), created_by=request.user)
        except ServiceError as error:
            form.add_service_errors(error)
        else:
            messages.success(request, f"Job {job.pk} is queued: a worker picks it up in a moment.")
            return redirect(job)
    return render(request, "training/job_form.html", {"form": form}, status=400)


def _job_new_form(request: HttpRequest) -> HttpResponse:
    # Other pages can link here prefilled: /training/new/?group=live-credit-scoring
    initial = {key: request.GET[key] for key in ("base", "source") if request.GET.get(key)}
    group = selectors.group_by_slug(slug=request.GET.get("group", ""), user=request.user)
    if group is not None:
        initial |= {"group": group.pk, "source": "decision_log"}
    form = JobForm(initial=initial, user=request.user)
    # Changing the base swaps in its hyperparameter fields.
    template = (
        "training/job_form.html#hyperparameters" if request.htmx else "training/job_form.html"
    )
    return render(request, template, {"form": form})


@require_GET
def job_detail(request: HttpRequest, pk: int) -> HttpResponse:
    job = selectors.job_get(pk=pk, user=request.user)
    groups = selectors.challenger_groups(version=job.result_version, user=request.user)
    context = {
        "job": job,
        "events": selectors.job_events_page(job=job, page_number=request.GET.get("page")),
        "chart": selectors.job_loss_chart(job=job),
        "chart_id": f"loss-chart-{job.pk}",
        "uses_charts": True,
        "join_form": JoinGroupForm(groups=groups) if groups else None,
    }
    # While the job runs the page polls this view for its live part only.
    template = "training/job_detail.html#live" if request.htmx else "training/job_detail.html"
    return render(request, template, context)


@require_POST
def job_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    job = selectors.job_get(pk=pk, user=request.user)
    require(request.user, CHANGE_JOB, job)
    try:
        job = services.job_cancel(job=job, actor=request.user)
    except ServiceError as error:
        messages.error(request, error.message)
    else:
        done = job.status == JobStatus.CANCELLED
        messages.success(
            request,
            f"Job {job.pk} cancelled." if done else f"Job {job.pk} stops at its next stage.",
        )
    return redirect(job)


@require_POST
def job_retry(request: HttpRequest, pk: int) -> HttpResponse:
    job = selectors.job_get(pk=pk, user=request.user)
    require(request.user, CHANGE_JOB, job)
    try:
        retry = services.job_retry(job=job, actor=request.user)
    except ServiceError as error:
        messages.error(request, error.message)
        return redirect(job)
    messages.success(request, f"Job {retry.pk} retries job {job.pk} on the same data.")
    return redirect(retry)


@require_POST
def job_join_group(request: HttpRequest, pk: int) -> HttpResponse:
    job = selectors.job_get(pk=pk, user=request.user)
    require(request.user, CHANGE_JOB, job)
    form = JoinGroupForm(
        request.POST,
        # Every group the user may read: one of another team is a 403 below, not a form error.
        groups=selectors.challenger_groups(
            version=job.result_version, user=request.user, acting=False
        ),
    )
    if not form.is_valid():
        problems = "; ".join(
            f"{field}: {' '.join(errors)}" for field, errors in form.errors.items()
        )
        messages.error(request, f"Not added: {problems}")
        return redirect(job)
    group = form.cleaned_data["group"]
    require(request.user, "groups.change_modelgroup", group)
    try:
        membership = services.job_result_join_group(
            job=job, group=group, weight=form.cleaned_data["weight"], actor=request.user
        )
    except ServiceError as error:
        messages.error(request, f"Not added: {error.message}")
        return redirect(job)
    messages.success(
        request,
        f"{membership.model_version} joined {group.name} as a challenger with {membership.weight}% of the traffic.",
    )
    return redirect(group)


@require_POST
def run_start(request: HttpRequest) -> HttpResponse:
    """A recipe version's page starts a train, eval or backtest run here."""
    require(request.user, ADD_JOB)
    recipe = recipe_selectors.recipe_get(slug=request.POST.get("recipe", ""), user=request.user)
    version = recipe_selectors.version_get(
        recipe=recipe, version=request.POST.get("version", ""), user=request.user
    )
    form = RunForm(request.POST)
    if not form.is_valid():
        problems = "; ".join(f"{f}: {' '.join(e)}" for f, e in form.errors.items())
        messages.error(request, f"Not started: {problems}")
        return redirect(version)
    try:
        job = services.run_create(
            recipe_version=version,
            kind=form.cleaned_data["kind"],
            dataset=services.RunDataset(
                rows=form.cleaned_data["rows"], seed=form.cleaned_data["seed"]
            ),
            actor=request.user,
        )
    except ServiceError as error:
        messages.error(request, f"Not started: {error.message}")
        return redirect(version)
    messages.success(request, f"Run {job.pk} is queued: a worker picks it up in a moment.")
    return redirect(job)
