"""Deploy a recipe's train run (hub/deploy.py): the API answers with the rollout it started
and links to it; the page goes to the rollout's timeline."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_POST
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import ServiceError
from core.permissions import require
from hub import deploy
from rollouts.models import Rollout
from training import selectors

CHANGE_RUN = "training.change_finetunejob"


class DeployedVersionOutput(serializers.Serializer):
    id = serializers.IntegerField()
    model = serializers.CharField(source="model.slug")
    version = serializers.CharField()
    status = serializers.CharField()


class DeployedRolloutOutput(serializers.Serializer):
    id = serializers.IntegerField()
    state = serializers.CharField()
    weight = serializers.IntegerField(source="current_weight", help_text="The challenger's %.")
    steps = serializers.ListField(child=serializers.IntegerField())
    metric = serializers.CharField()
    goal = serializers.CharField()
    shadow_first = serializers.BooleanField()
    url = serializers.CharField(source="get_absolute_url", help_text="The rollout's timeline page.")
    api_url = serializers.SerializerMethodField()

    def get_api_url(self, rollout: Rollout) -> str:
        return reverse("api-rollout-detail", args=[rollout.group.slug, rollout.pk])


class DeployOutput(serializers.Serializer):
    rollout = DeployedRolloutOutput(source="*")
    group = serializers.CharField(source="group.slug")
    role = serializers.SerializerMethodField()
    weight = serializers.SerializerMethodField(help_text="The challenger's share of traffic now.")
    model_version = DeployedVersionOutput(source="challenger")

    def _membership(self, rollout: Rollout):
        return rollout.group.memberships.get(model_version=rollout.challenger)

    def get_role(self, rollout: Rollout) -> str:
        return self._membership(rollout).role

    def get_weight(self, rollout: Rollout) -> int:
        return self._membership(rollout).weight


class RunDeployApi(APIView):
    """Start a gated rollout of the version a train run of an approved recipe version
    registered, in the recipe's `deployment.target_group`, with the plan of its
    `deployment.rollout` (defaults otherwise). 409 while the group has an active rollout."""

    perms = {"POST": CHANGE_RUN}

    @extend_schema(operation_id="runs_deploy", request=None, responses={201: DeployOutput})
    def post(self, request: Request, pk: int) -> Response:
        job = selectors.job_get(pk=pk, user=request.user)
        require(request.user, CHANGE_RUN, job)
        rollout = deploy.run_deploy(job=job, actor=request.user)
        return Response(DeployOutput(rollout).data, status=status.HTTP_201_CREATED)


@require_POST
def run_deploy(request: HttpRequest, pk: int) -> HttpResponse:
    job = selectors.job_get(pk=pk, user=request.user)
    require(request.user, CHANGE_RUN, job)
    try:
        rollout = deploy.run_deploy(job=job, actor=request.user)
    except ServiceError as error:
        messages.error(request, f"Not deployed: {error.message}")
        return redirect(job)
    messages.success(
        request,
        f"Rollout #{rollout.pk} started in {rollout.group.name}: {rollout.challenger} takes "
        f"{rollout.current_weight}% of the traffic, then steps "
        f"{', '.join(f'{s}%' for s in rollout.steps)} as the evidence allows.",
    )
    return redirect(rollout)
