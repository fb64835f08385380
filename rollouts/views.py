"""The rollout timeline, a tab of the group: the latest (or a chosen) rollout's staircase,
its decisions with their evidence, the bound closing in, and the buttons (Operators)."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from core.errors import ServiceError
from core.permissions import can, require
from groups.models import ModelGroup
from groups.selectors import group_for
from rollouts import services
from rollouts.forms import RolloutStartForm
from rollouts.models import Rollout
from rollouts.selectors import (
    OPERATE,
    START,
    VIEW,
    bound_chart,
    group_rollouts,
    rollout_for,
    staircase_chart,
)

REFERENCE = (
    "Johari, Koomen, Pekelis, Walsh, “Always Valid Inference: Continuous Monitoring of "
    "A/B Tests”, Operations Research 70(3), 2022 (arXiv:1512.04922)"
)


def _context(request: HttpRequest, group: ModelGroup, rollout: Rollout | None, form=None) -> dict:
    decisions = list(rollout.decisions.select_related("actor")) if rollout else []
    context = {
        "group": group,
        "active_tab": "rollouts",
        "rollout": rollout,
        "decisions": decisions,
        "rollouts": group_rollouts(request.user, group)[:20],
        "reference": REFERENCE,
        "uses_charts": rollout is not None,
    }
    if rollout is not None:
        context["staircase"] = staircase_chart(rollout, decisions)
        context["bound"] = bound_chart(rollout, decisions)
    if can(request.user, START, group):
        context["form"] = form or RolloutStartForm(group=group)
    return context


def _render(request: HttpRequest, context: dict) -> HttpResponse:
    template = "rollouts/rollouts.html#timeline" if request.htmx else "rollouts/rollouts.html"
    return render(request, template, context)


@require_GET
def group_rollouts_view(request: HttpRequest, slug: str) -> HttpResponse:
    group = group_for(request.user, slug, VIEW)
    return _render(request, _context(request, group, group_rollouts(request.user, group).first()))


@require_GET
def rollout_detail(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    rollout = rollout_for(request.user, slug, pk, VIEW)
    return _render(request, _context(request, rollout.group, rollout))


@require_POST
def rollout_start_view(request: HttpRequest, slug: str) -> HttpResponse:
    group = group_for(request.user, slug, START)
    form = RolloutStartForm(request.POST, group=group)
    if form.is_valid():
        try:
            rollout = services.rollout_start(
                group=group,
                challenger=form.cleaned_data["challenger"],
                actor=request.user,
                **form.plan(),
            )
        except ServiceError as error:
            for field, problems in error.errors.items():
                for problem in problems:
                    form.add_error(field if field in form.fields else None, problem)
            if not error.errors:
                form.add_error(None, error.message)
        else:
            messages.success(request, f"Rollout #{rollout.pk} started.")
            return HttpResponseRedirect(rollout.get_absolute_url())
    context = _context(request, group, group_rollouts(request.user, group).first(), form)
    return render(request, "rollouts/rollouts.html", context, status=400)


def _act(request: HttpRequest, slug: str, pk: int, action: str) -> HttpResponse:
    rollout = rollout_for(request.user, slug, pk, VIEW)
    require(request.user, OPERATE, rollout)
    try:
        getattr(services, f"rollout_{action}")(
            rollout=rollout, actor=request.user, reason=request.POST.get("reason", "")[:2000]
        )
    except ServiceError as error:
        messages.error(request, error.message)
    return HttpResponseRedirect(rollout.get_absolute_url())


@require_POST
def rollout_pause_view(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    return _act(request, slug, pk, "pause")


@require_POST
def rollout_resume_view(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    return _act(request, slug, pk, "resume")


@require_POST
def rollout_abort_view(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    return _act(request, slug, pk, "abort")
