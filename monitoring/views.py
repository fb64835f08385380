"""The Monitoring tab of a group (and of a version): thin views over monitoring's services."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from core.errors import ServiceError
from core.permissions import require, visible
from groups.models import ModelGroup
from monitoring import alerts, pages, reference, snapshots
from monitoring.filters import AlertFilterSet
from monitoring.forms import (
    AcknowledgeForm,
    AlertRuleForm,
    ReferenceUploadForm,
    ReferenceWindowForm,
)
from monitoring.models import Alert, AlertRule, Period, Snapshot, WebhookDelivery
from registry.selectors import version_get

WINDOW_LABELS = {Period.DAY: "Daily", Period.HOUR: "Hourly"}


def _group(request: HttpRequest, slug: str) -> ModelGroup:
    group = get_object_or_404(
        visible(request.user, ModelGroup.objects.select_related("team"), group_field="slug"),
        slug=slug,
    )
    require(request.user, "monitoring.view_snapshot", group)
    return group


def _url(group: ModelGroup) -> str:
    return reverse("monitoring:group_monitoring", args=[group.slug])


@require_GET
def group_monitoring(request: HttpRequest, slug: str) -> HttpResponse:
    group = _group(request, slug)
    period = request.GET.get("window", Period.DAY)
    period = period if period in WINDOW_LABELS else Period.DAY
    alerts.default_rules_ensure(group=group)  # lazily, the first time anyone looks
    alert_list = AlertFilterSet(
        {"group": group.slug, "open": "true"},
        queryset=Alert.objects.select_related("group", "model_version__model"),
    ).filtered()
    context = {
        "group": group,
        "active_tab": "monitoring",
        "window": period,
        "windows": WINDOW_LABELS,
        "panels": pages.group_panels(group, period),
        "alerts": alert_list,
        "rules": AlertRule.objects.filter(group=group),
        "deliveries": WebhookDelivery.objects.filter(alert__group=group).select_related("webhook")[
            :10
        ],
        "legend": pages.method_legend(),
        "rule_form": AlertRuleForm(group=group),
        "window_form": ReferenceWindowForm(group=group),
        "ack_form": AcknowledgeForm(),
        "uses_charts": True,
    }
    template = (
        "monitoring/group_monitoring.html#panel"
        if request.htmx
        else "monitoring/group_monitoring.html"
    )
    return render(request, template, context)


@require_POST
def group_monitoring_run(request: HttpRequest, slug: str) -> HttpResponse:
    group = _group(request, slug)
    require(request.user, "monitoring.run_snapshot", group)
    period = request.POST.get("window", Period.DAY)
    found = snapshots.group_run(
        group=group, period=period if period in WINDOW_LABELS else Period.DAY
    )
    messages.success(
        request, f"Monitoring ran for {len(found)} member{'s' if len(found) != 1 else ''}."
    )
    return HttpResponseRedirect(_url(group))


@require_POST
def alert_acknowledge_view(request: HttpRequest, pk: int) -> HttpResponse:
    alert = get_object_or_404(
        visible(request.user, Alert.objects.select_related("group"), team_field="group__team"),
        pk=pk,
    )
    require(request.user, "monitoring.acknowledge_alert", alert)
    form = AcknowledgeForm(request.POST)
    try:
        if form.is_valid():
            alerts.alert_acknowledge(
                alert=alert, actor=request.user, note=form.cleaned_data["note"]
            )
            messages.success(request, f"Acknowledged: {alert.title}.")
    except ServiceError as error:
        messages.error(request, error.message)
    return HttpResponseRedirect(_url(alert.group))


@require_POST
def alert_rule_create_view(request: HttpRequest, slug: str) -> HttpResponse:
    group = _group(request, slug)
    require(request.user, "monitoring.add_alertrule", group)
    form = AlertRuleForm(request.POST, group=group)
    if form.is_valid():
        try:
            rule = alerts.alert_rule_create(group=group, **form.cleaned_data)
            messages.success(request, f"Rule “{rule.name}” added.")
        except ServiceError as error:
            messages.error(request, error.message)
    else:
        messages.error(
            request,
            "Check the rule: " + "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items()),
        )
    return HttpResponseRedirect(_url(group))


@require_POST
def reference_from_window_view(request: HttpRequest, slug: str) -> HttpResponse:
    group = _group(request, slug)
    # The group's owners may take a reference: checked before the form says anything.
    require(request.user, "monitoring.add_reference", group)
    form = ReferenceWindowForm(request.POST, group=group)
    if not form.is_valid():
        messages.error(request, "Choose a member and a number of days.")
        return HttpResponseRedirect(_url(group))
    version = form.cleaned_data["model_version"]
    require(request.user, "monitoring.add_reference", version)
    end = timezone.now()
    try:
        found = reference.reference_from_window(
            group=group,
            model_version=version,
            start=end - timedelta(days=form.cleaned_data["days"]),
            end=end,
            actor=request.user,
        )
        messages.success(request, f"Reference of {version}: {found.rows} rows of its own traffic.")
    except ServiceError as error:
        messages.error(request, error.message)
    return HttpResponseRedirect(_url(group))


def version_monitoring(request: HttpRequest, slug: str, version: str) -> HttpResponse:
    """The version's reference (upload one here) and its latest snapshots in every group."""
    obj = version_get(request.user, slug, version)
    require(request.user, "monitoring.view_reference", obj)
    form = ReferenceUploadForm()
    if request.method == "POST":
        require(request.user, "monitoring.add_reference", obj)
        form = ReferenceUploadForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                found = reference.reference_upload(
                    model_version=obj, upload=form.cleaned_data["file"], actor=request.user
                )
                messages.success(
                    request,
                    f"Reference uploaded: {found.rows} rows, {len(found.features)} features.",
                )
                return HttpResponseRedirect(request.path)
            except ServiceError as error:
                for field, errors in error.errors.items():
                    form.add_error(field if field in form.fields else None, errors)
                if not error.errors:
                    form.add_error(None, error.message)
    ref = (
        reference.Reference.objects.filter(model_version=obj)
        .defer("sample", "sample_scores")
        .first()
    )
    latest = visible(
        request.user,
        Snapshot.objects.filter(model_version=obj, period=Period.DAY).select_related("group"),
        team_field="group__team",
        group_field="group__slug",
    ).order_by("-window_end")[:10]
    context = {
        "version": obj,
        "reference": ref,
        "snapshots": latest,
        "form": form,
        "summaries": sorted((ref.summaries if ref else {}).items()),
    }
    return render(request, "monitoring/version_monitoring.html", context)
