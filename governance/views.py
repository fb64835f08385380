"""Governance pages: the inventory (and its exports), a model's inventory form, a group's
history with a moment picker, a version's validation report (page and PDF) and its job."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import (
    FileResponse,
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    StreamingHttpResponse,
)
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.errors import ServiceError
from core.permissions import can, require
from governance.forms import InventoryForm
from governance.history import group_at, group_changes, members_rows, moment_parse
from governance.inventory import (
    InventoryFilterSet,
    inventory_csv,
    inventory_queryset,
    inventory_rows,
    inventory_xlsx,
)
from governance.models import ReportStatus
from governance.presentation import evidence_members
from governance.reports import report_build, report_pdf
from governance.selectors import group_get, report_job_get
from governance.services import report_is_large, report_job_start
from registry.models import INVENTORY_FIELDS, VALIDATION_FIELDS, ModelVersion
from registry.selectors import model_get, version_get
from registry.services import registered_model_inventory_update

VIEW_MODEL = "registry.view_registeredmodel"
VIEW_VERSION = "registry.view_modelversion"
VIEW_HISTORY = "groups.view_rolechange"
PAGE_SIZE = 25
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _inventory(request: HttpRequest) -> tuple[InventoryFilterSet, object, dict]:
    filterset = InventoryFilterSet(request.GET, queryset=inventory_queryset(request.user))
    try:
        return filterset, filterset.filtered(), {}
    except ServiceError as error:
        return filterset, inventory_queryset(request.user).none(), error.errors


@require_GET
def inventory(request: HttpRequest) -> HttpResponse:
    require(request.user, VIEW_MODEL)
    filterset, models, errors = _inventory(request)
    page = Paginator(models, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "filterset": filterset,
        "page": page,
        "rows": inventory_rows(page.object_list),
        "errors": errors,
        "query": query.urlencode(),
        "today": timezone.localdate(),
    }
    return render(request, "governance/inventory.html", context, status=400 if errors else 200)


@require_GET
def inventory_export(request: HttpRequest, fmt: str) -> HttpResponse:
    require(request.user, VIEW_MODEL)
    _, models, errors = _inventory(request)
    if errors:
        text = "; ".join(f"{name}: {' '.join(m)}" for name, m in errors.items())
        return HttpResponseBadRequest(f"Invalid filter: {text}", content_type="text/plain")
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    if fmt == "xlsx":
        response = HttpResponse(inventory_xlsx(models), content_type=XLSX)
    else:
        response = StreamingHttpResponse(inventory_csv(models), content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="model-inventory-{stamp}.{fmt}"'
    return response


def _editable(user, model) -> list[str]:
    fields: list[str] = []
    if can(user, "registry.change_registeredmodel", model):
        fields += INVENTORY_FIELDS
    if can(user, "registry.validate_registeredmodel", model):
        fields += VALIDATION_FIELDS
    return fields


@require_http_methods(["GET", "POST"])
def inventory_edit(request: HttpRequest, slug: str) -> HttpResponse:
    model = model_get(request.user, slug)
    editable = _editable(request.user, model)
    if not editable:
        require(request.user, "registry.change_registeredmodel", model)  # the 403 says why
    form = InventoryForm(request.POST or None, instance=model, editable=editable)
    if request.method == "POST" and form.is_valid():
        changes = {name: form.cleaned_data[name] for name in form.fields}
        try:
            registered_model_inventory_update(model=model, changes=changes)
        except ServiceError as error:
            for name, texts in error.errors.items():
                form.add_error(name if name in form.fields else None, " ".join(texts))
        else:
            messages.success(request, f"The inventory entry of {model.name} was saved.")
            return redirect("governance:inventory")
    context = {"model": model, "form": form, "editable": editable}
    return render(request, "governance/inventory_edit.html", context)


@require_GET
def group_history(request: HttpRequest, slug: str) -> HttpResponse:
    group = group_get(request.user, slug)
    require(request.user, VIEW_HISTORY, group)
    error = ""
    try:
        at = moment_parse(request.GET.get("at"))
    except ServiceError as exc:
        at, error = timezone.now(), exc.message
    moment = group_at(group, at)
    changes = [
        {
            "change": change,
            "members_before": members_rows(change.weights_before),
            "members_after": members_rows(change.weights_after),
            "evidence": evidence_members(change.evidence.get("comparison")),
        }
        for change in group_changes(group)[:200]
    ]
    context = {
        "group": group,
        "moment": moment,
        "moment_evidence": evidence_members(moment.comparison),
        "at_value": request.GET.get("at", ""),
        "error": error,
        "changes": changes,
    }
    return render(request, "governance/group_history.html", context, status=400 if error else 200)


def _version(request: HttpRequest, slug: str, version: str) -> ModelVersion:
    found = version_get(request.user, slug, version)
    require(request.user, VIEW_VERSION, found)
    return found


@require_GET
def version_report(request: HttpRequest, slug: str, version: str) -> HttpResponse:
    found = _version(request, slug, version)
    report = report_build(version=found)
    return render(request, "governance/version_report.html", {"report": report})


def pdf_response(pdf: bytes, version: ModelVersion) -> HttpResponse:
    response = HttpResponse(pdf, content_type="application/pdf")
    name = f"{version.model.slug}-{version.version}-validation-report.pdf"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@require_GET
def version_report_pdf(request: HttpRequest, slug: str, version: str) -> HttpResponse:
    found = _version(request, slug, version)
    if report_is_large(found):
        job = report_job_start(version=found, user=request.user)
        return redirect("governance:report_job", job_id=job.pk)
    return pdf_response(report_pdf(report_build(version=found)), found)


@require_POST
def report_job_create(request: HttpRequest, slug: str, version: str) -> HttpResponse:
    found = _version(request, slug, version)
    job = report_job_start(version=found, user=request.user)
    return redirect("governance:report_job", job_id=job.pk)


@require_GET
def report_job(request: HttpRequest, job_id: int) -> HttpResponse:
    job = report_job_get(request.user, job_id)
    require(request.user, VIEW_VERSION, job.model_version)
    template = (
        "governance/report_job.html#progress" if request.htmx else "governance/report_job.html"
    )
    return render(request, template, {"job": job})


@require_GET
def report_job_pdf(request: HttpRequest, job_id: int) -> HttpResponse:
    job = report_job_get(request.user, job_id)
    require(request.user, VIEW_VERSION, job.model_version)
    if job.status != ReportStatus.DONE or not job.pdf:
        return redirect("governance:report_job", job_id=job.pk)
    name = f"{job.model_version.model.slug}-{job.model_version.version}-validation-report.pdf"
    return FileResponse(job.pdf.open("rb"), as_attachment=True, filename=name)
