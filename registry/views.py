from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from registry import selectors
from registry.artifacts import ArtifactError, artifact_read, artifact_untrusted_types
from registry.forms import TransitionForm, VersionUploadForm, add_service_errors
from registry.models import ModelVersion, RegisteredModel, Task, VersionStatus
from registry.selectors import ModelFilters, all_tags, version_analytics
from registry.services import (
    ALLOWED_TRANSITIONS,
    RegistryValidationError,
    model_version_transition,
    model_version_upload,
)

PAGE_SIZE = 20


@require_GET
def model_list(request: HttpRequest) -> HttpResponse:
    filters = ModelFilters.from_params(request.GET)
    page = Paginator(selectors.model_list(filters), PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "page": page,
        "filters": filters,
        "query": query.urlencode(),
        "tasks": Task.choices,
        "statuses": VersionStatus.choices,
        "tags": all_tags(),
    }
    template = "registry/model_list.html#results" if request.htmx else "registry/model_list.html"
    return render(request, template, context)


@require_GET
def model_detail(request: HttpRequest, slug: str) -> HttpResponse:
    model = get_object_or_404(RegisteredModel.objects.select_related("owner"), slug=slug)
    tab = "analytics" if request.GET.get("tab") == "analytics" else "versions"
    context = {
        "model": model,
        "tab": tab,
        "versions": model.versions.select_related("created_by", "parent").order_by("-created_at"),
    }
    if tab == "analytics":
        context["analytics"] = version_analytics(
            model, version=request.GET.get("v", ""), compare=request.GET.get("compare", "")
        )
    template = "registry/model_detail.html"
    if request.htmx and request.headers.get("HX-Target") == "tab-panel":
        template += "#tab_panel"
    return render(request, template, context)


def _version(slug: str, version: str) -> ModelVersion:
    return get_object_or_404(
        ModelVersion.objects.select_related("model", "parent", "provider", "created_by", "trusted_by",
                                            "mapping_provider"),
        model__slug=slug,
        version=version,
    )


@require_GET
def version_detail(request: HttpRequest, slug: str, version: str) -> HttpResponse:
    obj = _version(slug, version)
    refused: list[str] = []
    artifact_problem = ""
    if obj.artifact:
        try:
            refused = [t for t in artifact_untrusted_types(artifact_read(obj)) if t not in obj.trusted_types]
        except ArtifactError as exc:
            artifact_problem = str(exc)
    next_status = ALLOWED_TRANSITIONS.get(obj.status)
    return render(
        request,
        "registry/version_detail.html",
        {
            "version": obj,
            "model": obj.model,
            "next_status": VersionStatus(next_status) if next_status else None,
            "refused_types": refused,
            "artifact_problem": artifact_problem,
            "children": obj.children.order_by("-created_at"),
        },
    )


@require_POST
def version_transition(request: HttpRequest, slug: str, version: str) -> HttpResponse:
    obj = _version(slug, version)
    form = TransitionForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a valid status.")
        return redirect(obj)
    try:
        model_version_transition(version=obj, to_status=form.cleaned_data["to_status"], actor=request.user)
    except RegistryValidationError as exc:
        for message in exc.errors.get("status", [str(exc)]):
            messages.error(request, message)
    else:
        messages.success(request, f"{obj} is now {obj.get_status_display().lower()}.")
    return redirect(obj)


@require_http_methods(["GET", "POST"])
def version_upload(request: HttpRequest) -> HttpResponse:
    initial = {}
    if slug := request.GET.get("model"):
        initial["model"] = RegisteredModel.objects.filter(slug=slug).first()
    form = VersionUploadForm(request.POST or None, request.FILES or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            version = model_version_upload(
                model=data["model"],
                new_model_name=data["new_model_name"],
                task=data["task"],
                version=data["version"],
                metadata=data["metadata"],
                artifact=data["artifact"],
                created_by=request.user,
                description=data["description"],
            )
        except RegistryValidationError as exc:
            add_service_errors(form, exc.errors)
        else:
            messages.success(request, f"{version} uploaded as a draft.")
            return redirect(version)
    return render(request, "registry/version_upload.html", {"form": form}, status=400 if form.errors else 200)
