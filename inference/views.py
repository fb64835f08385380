"""Pages over a group's inference table: Comparative View, inference browser, one
prediction, and the live-metrics fragment the model page loads. Each page reads its group
through inference/access.py (visible to the user, `groups.view_modelgroup` on it)."""

from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponsePermanentRedirect,
    StreamingHttpResponse,
)
from django.shortcuts import get_object_or_404, render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_GET

from core.errors import ServiceError
from core.permissions import can, require, visible
from groups.models import ModelGroup, RoleChange
from groups.selectors import group_curl_example
from inference import browser, comparison, live_charts
from inference.access import group_for
from inference.filters import InferenceFilterSet
from inference.windows import window_or_default
from registry.models import ModelVersion, Task

PROMOTE_PERM = "groups.promote_modelgroup"


def _url_or_none(name: str, *args: object) -> str | None:
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return None


def _endpoint(request: HttpRequest, name: str, group: ModelGroup) -> str:
    return request.build_absolute_uri(reverse(name, args=[group.slug]))


@require_GET
def group_compare(request: HttpRequest, slug: str) -> HttpResponse:
    group = group_for(request.user, slug)
    window = window_or_default(request.GET.get("window"))
    predict_url = _endpoint(request, "group-predict", group)
    can_promote = can(request.user, PROMOTE_PERM, group)
    result = comparison.group_comparison(group=group, window=window)
    context = {
        "group": group,
        "active_tab": "comparison",
        "window": window,
        "windows": comparison.WINDOW_LABELS,
        "comparison": result,
        "latest_change": RoleChange.objects.filter(group=group)
        .select_related("actor", "from_version__model", "to_version__model")
        .first(),
        "promote_url": _url_or_none("groups:group_promote", group.slug) if can_promote else None,
        "method_notes": result.method_notes,
        "predict_url": predict_url,
        "feedback_url": _endpoint(request, "group-feedback", group),
        "curl": group_curl_example(group=group, endpoint=predict_url),
        "uses_charts": True,
    }
    template = "inference/compare.html#panel" if request.htmx else "inference/compare.html"
    return render(request, template, context)


@require_GET
def group_inferences(request: HttpRequest, slug: str) -> HttpResponse:
    group = group_for(request.user, slug)
    context = {"group": group, "active_tab": "inferences", "errors": {}, "page": None}
    try:
        rows = browser.filtered_rows(group, request.GET)
        context["page"] = browser.inference_page(request, rows)
    except ServiceError as error:
        context["errors"] = error.errors or {"": [error.message]}
    query = request.GET.copy()
    query.pop("cursor", None)
    predict_url = _endpoint(request, "group-predict", group)
    versions = ModelVersion.objects.filter(memberships__group=group).select_related("model")
    context.update(
        {
            "filters_narrow": InferenceFilterSet.narrowing(request.GET),
            "raw": request.GET,
            "query": query.urlencode(),
            "versions": versions,
            "roles": ["champion", "challenger", "shadow"],
            "features": group.features or [],
            "windows": comparison.WINDOW_LABELS,
            "version_labels": {v.pk: f"{v.model.name} {v.version}" for v in versions},
            "predict_url": predict_url,
            "curl": group_curl_example(group=group, endpoint=predict_url),
        }
    )
    template = "inference/inferences.html#results" if request.htmx else "inference/inferences.html"
    return render(request, template, context)


@require_GET
def group_inferences_export(request: HttpRequest, slug: str) -> HttpResponse:
    group = group_for(request.user, slug)
    try:
        rows = browser.filtered_rows(group, request.GET)
    except ServiceError as error:
        lines = [f"{field}: {' '.join(messages)}" for field, messages in error.errors.items()]
        return HttpResponse(
            "; ".join(lines) or error.message, status=400, content_type="text/plain"
        )
    response = StreamingHttpResponse(
        browser.csv_lines(group=group, rows=rows), content_type="text/csv"
    )
    response["Content-Disposition"] = f'attachment; filename="{browser.csv_filename(group)}"'
    return response


@require_GET
def inference_detail(request: HttpRequest, slug: str, request_id: str) -> HttpResponse:
    group = group_for(request.user, slug)
    row = browser.inference_detail(group=group, request_id=request_id)
    if row is None:
        raise Http404("No prediction with this request id in this group.")
    version = ModelVersion.objects.select_related("model").filter(pk=row.model_version_id).first()
    context = {
        "group": group,
        "active_tab": "inferences",
        "row": row,
        "version": version,
        "waterfall": browser.waterfall(row),
        # A multiclass prediction explained for every class (computed from its inputs).
        "class_shap": live_charts.class_shap_table(version, row.inputs or {})
        if group.task == Task.MULTICLASS
        else None,
        "inputs": sorted((row.inputs or {}).items()),
        "feedback_url": _endpoint(request, "group-feedback", group),
        "uses_charts": True,
    }
    return render(request, "inference/inference_detail.html", context)


@require_GET
def version_live(request: HttpRequest, version_id: int) -> HttpResponse:
    versions = visible(
        request.user, ModelVersion.objects.select_related("model"), team_field="model__team"
    )
    version = get_object_or_404(versions, pk=version_id)
    require(request.user, "registry.view_modelversion", version)
    window = window_or_default(request.GET.get("window"))
    groups = visible(request.user, ModelGroup.objects.all(), group_field="slug")
    live = comparison.version_live_metrics(version_id=version.pk, window=window, groups=groups)
    context = {
        "version": version,
        "window": window,
        "windows": comparison.WINDOW_LABELS,
        # Each group's numbers, and the task's charts from its live labelled rows.
        "live": [
            (group, member, live_charts.member_live_charts(member, prefix=f"live-{group.slug}"))
            for group, member in live
        ],
        "groups_url": _url_or_none("groups:group_list"),
        "uses_charts": True,
    }
    return render(request, "inference/_version_live.html", context)


@require_GET
def legacy_group_redirect(request: HttpRequest, slug: str, rest: str) -> HttpResponse:
    """/inference/groups/<slug>/<rest> (the tabs' old address) -> /groups/<slug>/<rest>."""
    target = f"/groups/{slug}/{rest}"
    if request.META.get("QUERY_STRING"):
        target += f"?{request.META['QUERY_STRING']}"
    return HttpResponsePermanentRedirect(target)
