"""The group pages: list, create, overview, promote (with confirmation), traffic, rollback,
and approving or rejecting pending changes.

Each view checks its permission first (`group_for` / `require`); actions the user may
not do are absent from the pages (templates use `{% has_perm %}`), and their POSTs are 403.
"""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.errors import ServiceError
from core.permissions import require
from groups.filters import GroupFilterSet
from groups.forms import (
    ChallengerFormSet,
    GroupCreateForm,
    PromoteForm,
    ReasonForm,
    TrafficForm,
    add_service_errors,
    create_members,
)
from groups.models import ModelGroup, PendingChange
from groups.selectors import (
    group_curl_example,
    group_for,
    group_last_promotion,
    group_list_page,
    group_members,
    group_pending_changes,
    group_promotion_preview,
    group_role_changes,
    groups_with_members,
)
from groups.services import (
    group_create,
    group_promote,
    group_rollback,
    group_set_traffic,
    group_slug,
    pending_change_approve,
    pending_change_reject,
)

VIEW = "groups.view_modelgroup"
ADD = "groups.add_modelgroup"
PROMOTE = "groups.promote_modelgroup"
APPROVE = "groups.approve_pendingchange"
WAITING = "{group} requires approval: the {action} waits until another person approves it."


def _next_url(request: HttpRequest, candidate: str | None, group: ModelGroup) -> str:
    """Where to go after a POST: `next` when it is a URL of this site, else the group page."""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return group.get_absolute_url()


def _is_pending(request: HttpRequest, result: object, group: ModelGroup, action: str) -> bool:
    if isinstance(result, PendingChange):
        messages.info(request, WAITING.format(group=group.name, action=action))
        return True
    return False


@require_GET
def group_list(request: HttpRequest) -> HttpResponse:
    require(request.user, VIEW)
    filters = GroupFilterSet(request.GET, queryset=groups_with_members(request.user))
    try:
        groups = filters.filtered()
    except ServiceError as error:
        groups, filter_error = ModelGroup.objects.none(), error.message
    else:
        filter_error = ""
    page = group_list_page(groups=groups, page_number=request.GET.get("page"))
    template = "groups/group_list.html#group_table" if request.htmx else "groups/group_list.html"
    context = {"page": page, "filters": filters.form, "filter_error": filter_error}
    return render(request, template, context)


@require_http_methods(["GET", "POST"])
def group_create_view(request: HttpRequest) -> HttpResponse:
    require(request.user, ADD)
    form = GroupCreateForm(request.POST or None, user=request.user)
    challengers = ChallengerFormSet(request.POST or None, prefix="challengers")
    if request.method == "POST" and form.is_valid() and challengers.is_valid():
        data = form.cleaned_data
        require(request.user, ADD, ModelGroup(team=data["team"], slug=group_slug(data["name"])))
        try:
            group = group_create(
                name=data["name"],
                description=data["description"],
                routing_mode=data["routing_mode"],
                deletion_policy=data["deletion_policy"],
                requires_approval=data["requires_approval"],
                team=data["team"],
                members=create_members(form, challengers),
                created_by=request.user,
            )
        except ServiceError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, f"Group {group.name} created, logging to {group.table_name}.")
            return redirect(group)
    status = 400 if request.method == "POST" else 200
    return render(
        request, "groups/group_form.html", {"form": form, "challengers": challengers}, status=status
    )


def _overview(request: HttpRequest, group: ModelGroup, **extra) -> dict:
    members = group_members(group=group)
    endpoint = request.build_absolute_uri(reverse("group-predict", kwargs={"slug": group.slug}))
    context = {
        "group": group,
        "active_tab": "overview",
        "members": members,
        "champion": next((m for m in members if m.role == "champion"), None),
        "split": " / ".join(str(m.weight) for m in members if m.role != "shadow") or "—",
        "traffic_form": TrafficForm(members=members),
        "last_promotion": group_last_promotion(group=group),
        "role_changes": group_role_changes(group=group),
        "pending_changes": group_pending_changes(group=group),
        "endpoint": endpoint,
        "curl": group_curl_example(group=group, endpoint=endpoint),
    }
    context.update(extra)
    return context


@require_GET
def group_detail(request: HttpRequest, slug: str) -> HttpResponse:
    group = group_for(request.user, slug, VIEW)
    return render(request, "groups/group_detail.html", _overview(request, group))


def _promote_confirmation(request: HttpRequest, group: ModelGroup, version, next_url: str):
    context = {
        "group": group,
        "active_tab": "overview",
        "version": version,
        "preview": group_promotion_preview(group=group, version_id=version.pk),
        "next_url": next_url,
    }
    template = (
        "groups/promote_confirm.html#confirmation"
        if request.htmx
        else "groups/promote_confirm.html"
    )
    return render(request, template, context)


@require_POST
def group_promote_view(request: HttpRequest, slug: str) -> HttpResponse:
    """Promote in two steps: the first POST shows what will change, the second (confirm) does it."""
    group = group_for(request.user, slug, PROMOTE)
    form = PromoteForm(request.POST, group=group)
    if not form.is_valid():
        messages.error(request, "Choose a member of this group to promote.")
        return HttpResponseRedirect(_next_url(request, request.POST.get("next"), group))
    next_url = _next_url(request, form.cleaned_data["next"], group)
    version = form.cleaned_data["model_version"]
    if not form.cleaned_data["confirm"]:
        return _promote_confirmation(request, group, version, next_url)
    try:
        result = group_promote(
            group=group,
            model_version=version,
            actor=request.user,
            reason=form.cleaned_data["reason"],
        )
    except ServiceError as error:
        messages.error(request, error.message)
    else:
        if not _is_pending(request, result, group, "promotion"):
            messages.success(
                request, f"{version} is now the champion of {group.name} with 100% of the traffic."
            )
    return HttpResponseRedirect(next_url)


@require_POST
def group_traffic_view(request: HttpRequest, slug: str) -> HttpResponse:
    group = group_for(request.user, slug, PROMOTE)
    form = TrafficForm(request.POST, members=group_members(group=group))
    if form.is_valid():
        try:
            result = group_set_traffic(
                group=group,
                weights=form.weights(),
                actor=request.user,
                reason=form.cleaned_data["reason"],
            )
        except ServiceError as error:
            add_service_errors(form, error)
        else:
            if not _is_pending(request, result, group, "traffic change"):
                messages.success(request, f"Traffic split of {group.name} updated.")
            return redirect(group)
    return render(
        request,
        "groups/group_detail.html",
        _overview(request, group, traffic_form=form),
        status=400,
    )


@require_POST
def group_rollback_view(request: HttpRequest, slug: str) -> HttpResponse:
    group = group_for(request.user, slug, PROMOTE)
    form = ReasonForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    try:
        result = group_rollback(group=group, actor=request.user, reason=reason)
    except ServiceError as error:
        messages.error(request, error.message)
    else:
        if not _is_pending(request, result, group, "rollback"):
            messages.success(
                request, f"Rolled back: {result.to_version} is the champion of {group.name} again."
            )
    return HttpResponseRedirect(_next_url(request, request.POST.get("next"), group))


@require_POST
def pending_change_decide_view(request: HttpRequest, slug: str, pk: int, decision: str):
    """Approve (applies it) or reject a pending change; never its author's own."""
    group = group_for(request.user, slug, APPROVE)
    pending = get_object_or_404(group.pending_changes.select_related("group"), pk=pk)
    require(request.user, APPROVE, pending)
    try:
        if decision == "approve":
            pending_change_approve(pending=pending, approver=request.user)
            messages.success(request, f"Approved and applied: {pending.get_action_display()}.")
        else:
            pending_change_reject(pending=pending, approver=request.user)
            messages.success(request, f"Rejected: {pending.get_action_display()}.")
    except ServiceError as error:
        if error.status == 403:  # the author: a 403 page that says why
            raise PermissionDenied(error.message) from error
        messages.error(request, error.message)
    return redirect(group)
