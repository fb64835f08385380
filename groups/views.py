
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from groups.forms import (
    ChallengerFormSet,
    GroupCreateForm,
    PromoteForm,
    ReasonForm,
    TrafficForm,
    add_service_errors,
    create_members,
)
from groups.models import ModelGroup
from groups.selectors import (
    group_curl_example,
    group_last_promotion,
    group_list_page,
    group_members,
    group_promotion_preview,
    group_role_changes,
)
from groups.services import (
    GroupValidationError,
    group_create,
    group_promote,
    group_rollback,
    group_set_traffic,
)


def _next_url(request: HttpRequest, candidate: str | None, group: ModelGroup) -> str:
    """Where to go after a POST: `next` when it is a URL of this site, else the group page."""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return group.get_absolute_url()


@require_GET
def group_list(request: HttpRequest) -> HttpResponse:
    page = group_list_page(page_number=request.GET.get("page"))
    template = "groups/group_list.html#group_table" if request.htmx else "groups/group_list.html"
    return render(request, template, {"page": page})


@require_http_methods(["GET", "POST"])
def group_create_view(request: HttpRequest) -> HttpResponse:
    form = GroupCreateForm(request.POST or None)
    challengers = ChallengerFormSet(request.POST or None, prefix="challengers")
    if request.method == "POST" and form.is_valid() and challengers.is_valid():
        try:
            group = group_create(
                name=form.cleaned_data["name"],
                description=form.cleaned_data["description"],
                routing_mode=form.cleaned_data["routing_mode"],
                deletion_policy=form.cleaned_data["deletion_policy"],
                members=create_members(form, challengers),
                created_by=request.user,
            )
        except GroupValidationError as error:
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
    endpoint = request.build_absolute_uri(f"/api/v1/groups/{group.slug}/predict")
    curl = group_curl_example(group=group, endpoint=endpoint)
    context = {
        "group": group,
        "active_tab": "overview",
        "members": members,
        "champion": next((m for m in members if m.role == "champion"), None),
        "split": " / ".join(str(m.weight) for m in members if m.role != "shadow") or "—",
        "traffic_form": TrafficForm(members=members),
        "last_promotion": group_last_promotion(group=group),
        "role_changes": group_role_changes(group=group),
        "endpoint": endpoint,
        "curl": curl,
    }
    context.update(extra)
    return context


@require_GET
def group_detail(request: HttpRequest, slug: str) -> HttpResponse:
    group = get_object_or_404(ModelGroup, slug=slug)
    return render(request, "groups/group_detail.html", _overview(request, group))


@require_POST
def group_promote_view(request: HttpRequest, slug: str) -> HttpResponse:
    """Promote in two steps: the first POST shows what will change, the second (confirm) does it."""
    group = get_object_or_404(ModelGroup, slug=slug)
    form = PromoteForm(request.POST, group=group)
    if not form.is_valid():
        messages.error(request, "Choose a member of this group to promote.")
        return HttpResponseRedirect(_next_url(request, request.POST.get("next"), group))
    next_url = _next_url(request, form.cleaned_data["next"], group)
    version = form.cleaned_data["model_version"]
    if form.cleaned_data["confirm"]:
        try:
            group_promote(
                group=group,
                model_version=version,
                actor=request.user,
                reason=form.cleaned_data["reason"],
            )
        except GroupValidationError as error:
            messages.error(request, str(error))
        else:
            messages.success(
                request, f"{version} is now the champion of {group.name} with 100% of the traffic."
            )
        return HttpResponseRedirect(next_url)
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
def group_traffic_view(request: HttpRequest, slug: str) -> HttpResponse:
    group = get_object_or_404(ModelGroup, slug=slug)
    form = TrafficForm(request.POST, members=group_members(group=group))
    if form.is_valid():
        try:
            group_set_traffic(
                group=group,
                weights=form.weights(),
                actor=request.user,
                reason=form.cleaned_data["reason"],
            )
        except GroupValidationError as error:
            add_service_errors(form, error)
        else:
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
    group = get_object_or_404(ModelGroup, slug=slug)
    form = ReasonForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    try:
        change = group_rollback(group=group, actor=request.user, reason=reason)
    except GroupValidationError as error:
        messages.error(request, str(error))
    else:
        messages.success(
            request, f"Rolled back: {change.to_version} is the champion of {group.name} again."
        )
    return HttpResponseRedirect(_next_url(request, request.POST.get("next"), group))
