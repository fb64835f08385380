from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.errors import ServiceError
from core.permissions import require
from registry import selectors
from registry.filters import ModelFilterSet
from registry.forms import TransitionForm, VersionUploadForm, add_service_errors
from registry.models import RegisteredModel, Task, VersionStatus
from registry.selectors import all_tags, model_get, version_analytics, version_get
from registry.services import (
    ALLOWED_TRANSITIONS,
    model_team_choose,
    model_version_transition,
    model_version_upload,
)

PAGE_SIZE = 20
FILTER_FIELDS = ("q", "task", "status", "tag")


@require_GET
def model_list(request: HttpRequest) -> HttpResponse:
    require(request.user, "registry.view_registeredmodel")
    filterset = ModelFilterSet(request.GET, queryset=selectors.model_list(request.user))
    errors: dict[str, list[str]] = {}
    try:
        models = filterset.filtered()
    except ServiceError as exc:
        models, errors = RegisteredModel.objects.none(), exc.errors
    page = Paginator(models, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "page": page,
        "filters": {
            **{name: request.GET.get(name, "") for name in FILTER_FIELDS},
            "active": filterset.active,
            "errors": {field: " ".join(messages) for field, messages in errors.items()},
        },
        "query": query.urlencode(),
        "tasks": Task.choices,
        "statuses": VersionStatus.choices,
        "tags": all_tags(request.user),
    }
    template = "registry/model_list.html#results" if request.htmx else "registry/model_list.html"
    return render(request, template, context, status=400 if errors else 200)


@require_GET
def model_detail(request: HttpRequest, slug: str) -> HttpResponse:
    model = model_get(request.user, slug)
    require(request.user, "registry.view_registeredmodel", model)
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
        context["uses_charts"] = True
    template = "registry/model_detail.html"
    if request.htmx and request.headers.get("HX-Target") == "tab-panel":
        template += "#tab_panel"
    return render(request, template, context)


@require_GET
def version_detail(request: HttpRequest, slug: str, version: str) -> HttpResponse:
    # Never unpacks the artifact: its types were recorded when it was uploaded.
    obj = version_get(request.user, slug, version)
    require(request.user, "registry.view_modelversion", obj)
    next_status = ALLOWED_TRANSITIONS.get(obj.status)
    return render(
        request,
        "registry/version_detail.html",
        {
            "version": obj,
            "model": obj.model,
            "next_status": VersionStatus(next_status) if next_status else None,
            "refused_types": obj.untrusted_types or [],
            "types_unknown": bool(obj.artifact) and obj.artifact_types is None,
            "children": obj.children.order_by("-created_at"),
        },
    )


@require_POST
def version_transition(request: HttpRequest, slug: str, version: str) -> HttpResponse:
    obj = version_get(request.user, slug, version)
    require(request.user, "registry.change_modelversion", obj)
    form = TransitionForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a valid status.")
        return redirect(obj)
    try:
        model_version_transition(
            version=obj, to_status=form.cleaned_data["to_status"], actor=request.user
        )
    except ServiceError as exc:
        for message in exc.errors.get("status", [exc.message]):
            messages.error(request, message)
    else:
        messages.success(request, f"{obj} is now {obj.get_status_display().lower()}.")
    return redirect(obj)


def _upload(request: HttpRequest, data: dict):
    model = data["model"]
    team = None
    if model is not None:
        require(request.user, "registry.add_modelversion", model)
    else:
        team = model_team_choose(user=request.user, team=data.get("team", ""))
        require(request.user, "registry.add_registeredmodel", RegisteredModel(team=team))
    return model_version_upload(
        model=model,
        new_model_name=data["new_model_name"],
        task=data["task"],
        version=data["version"],
        metadata=data["metadata"],
        artifact=data["artifact"],
        created_by=request.user,
        description=data["description"],
        team=team,
    )


@require_http_methods(["GET", "POST"])
def version_upload(request: HttpRequest) -> HttpResponse:
    require(request.user, "registry.add_modelversion")
    form = VersionUploadForm(request.POST or None, request.FILES or None, user=request.user)
    if slug := request.GET.get("model"):
        form.initial["model"] = form.fields["model"].queryset.filter(slug=slug).first()
    if request.method == "POST" and form.is_valid():
        try:
            version = _upload(request, form.cleaned_data)
        except ServiceError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, f"{version} uploaded as a draft.")
            return redirect(version)
    return render(
        request, "registry/version_upload.html", {"form": form}, status=400 if form.errors else 200
    )
