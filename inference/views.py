"""Pages over a group's inference table: Comparative View, inference browser, one
prediction, and the live-metrics fragment the model page loads."""

from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_GET

from groups.models import ModelGroup, RoleChange
from groups.selectors import group_curl_example
from inference import browser, comparison
from registry.models import ModelVersion


def _group(slug: str) -> ModelGroup:
    group = get_object_or_404(ModelGroup, slug=slug)
    if not group.table_name:
        raise Http404("This group has no inference table.")
    return group


def _url_or_none(name: str, *args: object) -> str | None:
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return None


def _endpoint(request: HttpRequest, group: ModelGroup, path: str) -> str:
    return request.build_absolute_uri(f"/api/v1/groups/{group.slug}/{path}")


@require_GET
def group_compare(request: HttpRequest, slug: str) -> HttpResponse:
    group = _group(slug)
    window = request.GET.get("window", comparison.DEFAULT_WINDOW)
    if window not in comparison.WINDOWS:
        window = comparison.DEFAULT_WINDOW
    context = {
        "group": group,
        "active_tab": "comparison",
        "window": window,
        "windows": comparison.WINDOW_LABELS,
        "comparison": comparison.group_comparison(group=group, window=window),
        "latest_change": RoleChange.objects.filter(group=group)
        .select_related("actor", "from_version__model", "to_version__model")
        .first(),
        "promote_url": _url_or_none("groups:group_promote", group.slug),
        "method_notes": comparison.METHOD_NOTES,
        "predict_url": _endpoint(request, group, "predict"),
        "feedback_url": _endpoint(request, group, "feedback"),
        "curl": group_curl_example(group=group, endpoint=_endpoint(request, group, "predict")),
    }
    template = "inference/compare.html#panel" if request.htmx else "inference/compare.html"
    return render(request, template, context)


@require_GET
def group_inferences(request: HttpRequest, slug: str) -> HttpResponse:
    group = _group(slug)
    context = {"group": group, "active_tab": "inferences", "errors": {}}
    try:
        filters = browser.parse_filters(request.GET, group=group)
        page = browser.inference_page(group=group, filters=filters, cursor=request.GET.get("cursor") or None)
    except browser.FilterError as exc:
        filters, page = None, None
        context["errors"] = exc.errors
    query = request.GET.copy()
    query.pop("cursor", None)
    context.update(
        {
            "filters": filters,
            "page": page,
            "raw": request.GET,
            "query": query.urlencode(),
            "versions": ModelVersion.objects.filter(memberships__group=group).select_related("model"),
            "roles": ["champion", "challenger", "shadow"],
            "features": group.features or [],
            "windows": comparison.WINDOW_LABELS,
            "version_labels": _version_labels(group),
            "predict_url": _endpoint(request, group, "predict"),
            "curl": group_curl_example(group=group, endpoint=_endpoint(request, group, "predict")),
        }
    )
    template = "inference/inferences.html#results" if request.htmx else "inference/inferences.html"
    return render(request, template, context)


def _version_labels(group: ModelGroup) -> dict[int, str]:
    versions = ModelVersion.objects.filter(memberships__group=group).select_related("model")
    return {v.pk: f"{v.model.name} {v.version}" for v in versions}


@require_GET
def group_inferences_export(request: HttpRequest, slug: str) -> HttpResponse:
    group = _group(slug)
    try:
        filters = browser.parse_filters(request.GET, group=group)
    except browser.FilterError as exc:
        return HttpResponse("; ".join(f"{k}: {' '.join(v)}" for k, v in exc.errors.items()), status=400,
                            content_type="text/plain")
    response = StreamingHttpResponse(browser.csv_lines(group=group, filters=filters), content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="{browser.csv_filename(group)}"'
    return response


@require_GET
def inference_detail(request: HttpRequest, slug: str, request_id: str) -> HttpResponse:
    group = _group(slug)
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
        "inputs": sorted((row.inputs or {}).items()),
        "feedback_url": _endpoint(request, group, "feedback"),
    }
    return render(request, "inference/inference_detail.html", context)


@require_GET
def version_live(request: HttpRequest, version_id: int) -> HttpResponse:
    version = get_object_or_404(ModelVersion.objects.select_related("model"), pk=version_id)
    window = request.GET.get("window", comparison.DEFAULT_WINDOW)
    if window not in comparison.WINDOWS:
        window = comparison.DEFAULT_WINDOW
    context = {
        "version": version,
        "window": window,
        "windows": comparison.WINDOW_LABELS,
        "live": comparison.version_live_metrics(version_id=version.pk, window=window),
        "groups_url": _url_or_none("groups:group_list"),
    }
    return render(request, "inference/_version_live.html", context)
