"""The rollout API, under a group: start and list, read one with its decisions, and pause,
resume, abort. Decisions are records: there is no endpoint to change or delete them."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import PAGE_PARAMETERS, Pagination, valid
from core.permissions import require
from groups.selectors import group_for
from registry.models import ModelVersion
from rollouts import services
from rollouts.models import Goal, Metric, Rollout
from rollouts.selectors import OPERATE, START, VIEW, group_rollouts, rollout_for


class GuardrailsInput(serializers.Serializer):
    error_rate_max = serializers.FloatField(min_value=0, required=False)
    fallback_rate_max = serializers.FloatField(min_value=0, required=False)
    p99_latency_ratio_max = serializers.FloatField(min_value=0, required=False)
    srm_p_min = serializers.FloatField(min_value=0, max_value=1, required=False)
    min_rows = serializers.IntegerField(min_value=0, required=False)


class RolloutStartInput(serializers.Serializer):
    challenger = serializers.PrimaryKeyRelatedField(
        queryset=ModelVersion.objects.select_related("model"),
        help_text="The model version to roll out (added to the group as a challenger if needed).",
    )
    steps = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=100),
        required=False,
        allow_empty=False,
        help_text="Challenger percentages, climbing (default [5, 25, 50, 100]).",
    )
    step_min_minutes = serializers.FloatField(min_value=0, required=False)
    step_max_minutes = serializers.FloatField(min_value=0, required=False)
    min_labelled_per_step = serializers.IntegerField(min_value=0, required=False)
    metric = serializers.ChoiceField(choices=Metric.choices, required=False)
    goal = serializers.ChoiceField(choices=Goal.choices, required=False)
    margin = serializers.FloatField(min_value=0, required=False)
    alpha = serializers.FloatField(min_value=0.0001, max_value=0.4999, required=False)
    guardrails = GuardrailsInput(required=False)
    shadow_first = serializers.BooleanField(required=False)
    final_approval = serializers.BooleanField(required=False)


class ReasonInput(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class DecisionOutput(serializers.Serializer):
    at = serializers.DateTimeField()
    action = serializers.CharField()
    step = serializers.IntegerField(source="step_index")
    weight = serializers.IntegerField()
    reason = serializers.CharField()
    evidence = serializers.JSONField()


class VersionOutput(serializers.Serializer):
    id = serializers.IntegerField()
    model = serializers.CharField(source="model.name")
    version = serializers.CharField()


class RolloutOutput(serializers.Serializer):
    id = serializers.IntegerField()
    group = serializers.CharField(source="group.slug")
    state = serializers.CharField()
    step = serializers.IntegerField(source="step_index", help_text="-1: the shadow phase.")
    weight = serializers.IntegerField(source="current_weight")
    challenger = VersionOutput()
    champion = VersionOutput()
    steps = serializers.ListField(child=serializers.IntegerField())
    step_min_minutes = serializers.FloatField()
    step_max_minutes = serializers.FloatField()
    min_labelled_per_step = serializers.IntegerField()
    metric = serializers.CharField()
    goal = serializers.CharField()
    margin = serializers.FloatField()
    alpha = serializers.FloatField()
    guardrails = serializers.JSONField()
    shadow_first = serializers.BooleanField()
    final_approval = serializers.BooleanField()
    pending_change = serializers.IntegerField(source="pending_change_id", allow_null=True)
    started_by = serializers.CharField(source="started_by_label")
    started_at = serializers.DateTimeField()
    ended_at = serializers.DateTimeField(allow_null=True)


class RolloutDetailOutput(RolloutOutput):
    decisions = DecisionOutput(many=True)


class RolloutPage(serializers.Serializer):
    """A page of rollouts (core.api.Pagination's answer)."""

    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = RolloutOutput(many=True)


def _detail(rollout: Rollout) -> dict:
    rollout = (
        Rollout.objects.select_related(
            "group", "champion__model", "challenger__model", "created_by", "created_by_key"
        )
        .prefetch_related("decisions")
        .get(pk=rollout.pk)
    )
    return RolloutDetailOutput(rollout).data


class RolloutListStartApi(APIView):
    """GET: the group's rollouts, newest first. POST: start one (one active per group)."""

    perms = {"GET": VIEW, "POST": START}

    @extend_schema(operation_id="rollouts_list", parameters=PAGE_PARAMETERS, responses=RolloutPage)
    def get(self, request: Request, slug: str) -> Response:
        group = group_for(request.user, slug, VIEW)
        paginator = Pagination()
        page = paginator.paginate_queryset(group_rollouts(request.user, group), request, view=self)
        return paginator.get_paginated_response(RolloutOutput(page, many=True).data)

    @extend_schema(
        operation_id="rollouts_start",
        request=RolloutStartInput,
        responses={201: RolloutDetailOutput},
    )
    def post(self, request: Request, slug: str) -> Response:
        group = group_for(request.user, slug, START)
        data = dict(valid(RolloutStartInput(data=request.data)))
        challenger = data.pop("challenger")
        rollout = services.rollout_start(
            group=group, challenger=challenger, actor=request.user, **data
        )
        return Response(_detail(rollout), status=status.HTTP_201_CREATED)


class RolloutDetailApi(APIView):
    """The rollout with every decision: time, action, reason, evidence."""

    perms = {"GET": VIEW}

    @extend_schema(operation_id="rollouts_retrieve", responses=RolloutDetailOutput)
    def get(self, request: Request, slug: str, pk: int) -> Response:
        return Response(_detail(rollout_for(request.user, slug, pk, VIEW)))


class _RolloutActionApi(APIView):
    perms = {"POST": OPERATE}
    action_name = ""

    def post(self, request: Request, slug: str, pk: int) -> Response:
        rollout = rollout_for(request.user, slug, pk, VIEW)
        require(request.user, OPERATE, rollout)
        data = valid(ReasonInput(data=request.data))
        act = getattr(services, f"rollout_{self.action_name}")
        return Response(_detail(act(rollout=rollout, actor=request.user, reason=data["reason"])))


class RolloutPauseApi(_RolloutActionApi):
    """Stop deciding; the split stays until resumed or aborted."""

    action_name = "pause"

    @extend_schema(
        operation_id="rollouts_pause", request=ReasonInput, responses=RolloutDetailOutput
    )
    def post(self, request: Request, slug: str, pk: int) -> Response:
        return super().post(request, slug, pk)


class RolloutResumeApi(_RolloutActionApi):
    action_name = "resume"

    @extend_schema(
        operation_id="rollouts_resume", request=ReasonInput, responses=RolloutDetailOutput
    )
    def post(self, request: Request, slug: str, pk: int) -> Response:
        return super().post(request, slug, pk)


class RolloutAbortApi(_RolloutActionApi):
    """Stop for good; the challenger goes back to 0% and stays a member."""

    action_name = "abort"

    @extend_schema(
        operation_id="rollouts_abort", request=ReasonInput, responses=RolloutDetailOutput
    )
    def post(self, request: Request, slug: str, pk: int) -> Response:
        return super().post(request, slug, pk)
