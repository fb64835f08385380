"""The monitoring API: references, snapshots, rules, alerts, webhooks. Each view declares
its permissions, checks the object with `require`, calls one service and renders it."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import Pagination, valid, valid_query
from core.errors import ServiceError
from core.filters import filter_parameters
from core.models import Team
from core.permissions import actable, is_api_key, require, user_team_ids, visible
from groups.models import ModelGroup, Role
from monitoring import alerts, notify, reference, snapshots
from monitoring.filters import AlertFilterSet
from monitoring.models import Alert, AlertRule, Operator, Period, Severity, Webhook, WebhookEvent
from registry.models import ModelVersion
from registry.selectors import version_get

WINDOWS = [Period.DAY, Period.WEEK, Period.MONTH, Period.HOUR]


def group_get(user, slug: str) -> ModelGroup:
    return get_object_or_404(
        visible(user, ModelGroup.objects.select_related("team"), group_field="slug"), slug=slug
    )


def person(user):
    return None if is_api_key(user) else user


class ReferenceOutput(serializers.Serializer):
    rows = serializers.IntegerField()
    features = serializers.ListField(child=serializers.CharField())
    source = serializers.CharField()
    description = serializers.CharField()
    created_at = serializers.DateTimeField()


class VersionReferenceApi(APIView):
    """GET: a version's reference (its summaries). PUT: replace it with an uploaded CSV or
    Parquet file."""

    perms = {"GET": "monitoring.view_reference", "PUT": "monitoring.add_reference"}
    parser_classes = [MultiPartParser]

    class UploadInput(serializers.Serializer):
        file = serializers.FileField(
            help_text="CSV or Parquet with a column per feature (and an optional `score`)."
        )

    @extend_schema(
        operation_id="version_reference_retrieve",
        responses={200: ReferenceOutput},
        summary="A version's monitoring reference",
    )
    def get(self, request: Request, slug: str, version: str) -> Response:
        obj = version_get(request.user, slug, version)
        require(request.user, "monitoring.view_reference", obj)
        found = get_object_or_404(reference.Reference, model_version=obj)
        return Response(ReferenceOutput(found).data)

    @extend_schema(
        operation_id="version_reference_upload",
        request={"multipart/form-data": UploadInput},
        responses={200: ReferenceOutput},
        summary="Upload a version's monitoring reference (CSV or Parquet)",
    )
    def put(self, request: Request, slug: str, version: str) -> Response:
        obj = version_get(request.user, slug, version)
        require(request.user, "monitoring.add_reference", obj)
        data = valid(self.UploadInput(data=request.data))
        found = reference.reference_upload(
            model_version=obj, upload=data["file"], actor=person(request.user)
        )
        return Response(ReferenceOutput(found).data)


class GroupReferenceFromWindowApi(APIView):
    """Take a window of a member's own live traffic as its reference."""

    perms = {"POST": "monitoring.add_reference"}

    class InputSerializer(serializers.Serializer):
        model_version = serializers.IntegerField()
        start = serializers.DateTimeField()
        end = serializers.DateTimeField()

    @extend_schema(
        operation_id="group_reference_from_window",
        request=InputSerializer,
        responses={200: ReferenceOutput},
        summary="Reference from live traffic",
    )
    def post(self, request: Request, slug: str) -> Response:
        group = group_get(request.user, slug)
        require(request.user, "monitoring.add_reference", group)
        data = valid(self.InputSerializer(data=request.data))
        version = group.memberships.filter(model_version_id=data["model_version"]).first()
        if version is None:
            raise ServiceError({"model_version": [f"Not a member of {group}."]})
        require(request.user, "monitoring.add_reference", version.model_version)
        found = reference.reference_from_window(
            group=group,
            model_version=version.model_version,
            start=data["start"],
            end=data["end"],
            actor=person(request.user),
        )
        return Response(ReferenceOutput(found).data)


class FeatureDriftOutput(serializers.Serializer):
    name = serializers.CharField()
    method = serializers.CharField()
    statistic = serializers.FloatField()
    p_value = serializers.FloatField(allow_null=True)
    threshold = serializers.FloatField()
    drifted = serializers.BooleanField()
    reference_rows = serializers.IntegerField()
    current_rows = serializers.IntegerField()
    shap_share = serializers.FloatField(allow_null=True)


class DriftOutput(serializers.Serializer):
    features = FeatureDriftOutput(many=True)
    share_drifted = serializers.FloatField()
    dataset_drifted = serializers.BooleanField()
    weighted = serializers.FloatField(allow_null=True)
    shap_share = serializers.DictField(child=serializers.FloatField())
    shap_shift = serializers.DictField()


class MemberSnapshotOutput(serializers.Serializer):
    model_version = serializers.IntegerField()
    version = serializers.CharField()
    role = serializers.CharField()
    window_start = serializers.DateTimeField()
    window_end = serializers.DateTimeField()
    drift = DriftOutput(allow_null=True)
    prediction_drift = FeatureDriftOutput(allow_null=True)
    quality = serializers.DictField()
    health = serializers.DictField()
    performance = serializers.DictField()


class MonitoringOutput(serializers.Serializer):
    window = serializers.CharField()
    members = MemberSnapshotOutput(many=True)


class GroupMonitoringApi(APIView):
    """The latest snapshot of each member for a window (computed now if there is none)."""

    perms = {"GET": "monitoring.view_snapshot"}

    class Query(serializers.Serializer):
        window = serializers.ChoiceField(choices=WINDOWS, default=Period.DAY)

    @extend_schema(
        parameters=[OpenApiParameter("window", str, enum=WINDOWS, description="Default 24h.")],
        responses={200: MonitoringOutput},
        summary="A group's drift, quality, health and performance per member",
        operation_id="group_monitoring_retrieve",
    )
    def get(self, request: Request, slug: str) -> Response:
        group = group_get(request.user, slug)
        require(request.user, "monitoring.view_snapshot", group)
        window = valid_query(self.Query, request)["window"]
        return Response(snapshots.monitoring_read(group=group, period=window))


class GroupMonitoringRunApi(APIView):
    """Compute the current window's snapshots now (and check the alert rules)."""

    perms = {"POST": "monitoring.run_snapshot"}
    parser_classes = [JSONParser, FormParser, MultiPartParser]

    class InputSerializer(serializers.Serializer):
        window = serializers.ChoiceField(choices=WINDOWS, default=Period.DAY)

    @extend_schema(
        operation_id="group_monitoring_run",
        request=InputSerializer,
        responses={200: MonitoringOutput},
        summary="Run monitoring now",
    )
    def post(self, request: Request, slug: str) -> Response:
        group = group_get(request.user, slug)
        require(request.user, "monitoring.run_snapshot", group)
        window = valid(self.InputSerializer(data=request.data))["window"]
        found = snapshots.group_run(group=group, period=window)
        return Response(
            {"window": window, "members": [snapshots.snapshot_payload(s) for s in found]}
        )


class AlertRuleOutput(serializers.ModelSerializer):
    group = serializers.CharField(source="group.slug")

    class Meta:
        model = AlertRule
        fields = [
            "id",
            "group",
            "model_version",
            "role",
            "name",
            "metric",
            "operator",
            "threshold",
            "windows",
            "period",
            "severity",
            "is_active",
            "created_at",
        ]


class AlertRuleListCreateApi(APIView):
    perms = {"GET": "monitoring.view_alertrule", "POST": "monitoring.add_alertrule"}
    pagination_class = Pagination  # the schema's page (and its parameters)

    class InputSerializer(serializers.Serializer):
        group = serializers.SlugField()
        name = serializers.CharField(max_length=200, min_length=1)
        metric = serializers.CharField(max_length=200, min_length=1)
        operator = serializers.ChoiceField(choices=Operator.choices, default=Operator.GE)
        threshold = serializers.FloatField()
        windows = serializers.IntegerField(min_value=1, max_value=100, default=1)
        period = serializers.ChoiceField(choices=Period.choices, default=Period.DAY)
        severity = serializers.ChoiceField(choices=Severity.choices, default=Severity.WARNING)
        model_version = serializers.IntegerField(required=False, allow_null=True, default=None)
        role = serializers.ChoiceField(
            choices=[("", "any"), *Role.choices], required=False, default=""
        )

    @extend_schema(
        operation_id="alert_rules_list",
        responses={200: AlertRuleOutput(many=True)},
        summary="Alert rules",
    )
    def get(self, request: Request) -> Response:
        rules = visible(
            request.user,
            AlertRule.objects.select_related("group"),
            team_field="group__team",
            group_field="group__slug",
        )
        paginator = Pagination()
        page = paginator.paginate_queryset(rules.order_by("id"), request, view=self)
        return paginator.get_paginated_response(AlertRuleOutput(page, many=True).data)

    @extend_schema(
        operation_id="alert_rules_create",
        request=InputSerializer,
        responses={201: AlertRuleOutput},
        summary="Create an alert rule",
    )
    def post(self, request: Request) -> Response:
        data = valid(self.InputSerializer(data=request.data))
        group = group_get(request.user, data.pop("group"))
        require(request.user, "monitoring.add_alertrule", group)
        version_id = data.pop("model_version")
        version = ModelVersion.objects.filter(pk=version_id).first() if version_id else None
        if version_id and version is None:
            raise ServiceError({"model_version": ["No such model version."]})
        rule = alerts.alert_rule_create(group=group, model_version=version, **data)
        return Response(AlertRuleOutput(rule).data, status=status.HTTP_201_CREATED)


class AlertOutput(serializers.ModelSerializer):
    group = serializers.CharField(source="group.slug")
    acknowledged_by = serializers.CharField(
        source="acknowledged_by.username", allow_null=True, default=None
    )

    class Meta:
        model = Alert
        fields = [
            "id",
            "group",
            "model_version",
            "rule",
            "source",
            "title",
            "severity",
            "status",
            "evidence",
            "opened_at",
            "acknowledged_at",
            "acknowledged_by",
            "note",
            "resolved_at",
        ]


def alerts_visible(user):
    return visible(
        user,
        Alert.objects.select_related("group", "acknowledged_by"),
        team_field="group__team",
        group_field="group__slug",
    )


class AlertListApi(APIView):
    perms = {"GET": "monitoring.view_alert"}
    pagination_class = Pagination  # the schema's page (and its parameters)
    filterset_class = AlertFilterSet

    @extend_schema(
        parameters=filter_parameters(AlertFilterSet),
        responses={200: AlertOutput(many=True)},
        summary="Alerts",
        operation_id="alerts_list",
    )
    def get(self, request: Request) -> Response:
        found = AlertFilterSet(
            request.query_params, queryset=alerts_visible(request.user)
        ).filtered()
        paginator = Pagination()
        page = paginator.paginate_queryset(found, request, view=self)
        return paginator.get_paginated_response(AlertOutput(page, many=True).data)


class AlertAcknowledgeApi(APIView):
    perms = {"POST": "monitoring.acknowledge_alert"}

    class InputSerializer(serializers.Serializer):
        note = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)

    @extend_schema(
        operation_id="alerts_acknowledge",
        request=InputSerializer,
        responses={200: AlertOutput},
        summary="Acknowledge an alert",
    )
    def post(self, request: Request, pk: int) -> Response:
        alert = get_object_or_404(alerts_visible(request.user), pk=pk)
        require(request.user, "monitoring.acknowledge_alert", alert)
        note = valid(self.InputSerializer(data=request.data))["note"]
        return Response(
            AlertOutput(alerts.alert_acknowledge(alert=alert, actor=request.user, note=note)).data
        )


class WebhookOutput(serializers.ModelSerializer):
    """Never the secret."""

    team = serializers.CharField(source="team.slug")

    class Meta:
        model = Webhook
        fields = ["id", "team", "url", "events", "is_active", "created_at"]


def _team(user, slug: str) -> Team:
    if slug:
        return get_object_or_404(Team, slug=slug)
    teams = user_team_ids(user)
    if len(teams) != 1:
        raise ServiceError(
            {"team": ["Name the team (its slug): you belong to several teams, or none."]}
        )
    return Team.objects.get(pk=next(iter(teams)))


class WebhookListCreateApi(APIView):
    perms = {"GET": "monitoring.view_webhook", "POST": "monitoring.add_webhook"}
    pagination_class = Pagination  # the schema's page (and its parameters)

    class InputSerializer(serializers.Serializer):
        url = serializers.URLField(max_length=500)
        secret = serializers.CharField(min_length=16, max_length=500, write_only=True)
        events = serializers.ListField(
            child=serializers.ChoiceField(choices=WebhookEvent.choices),
            min_length=1,
            default=lambda: list(WebhookEvent.values),
        )
        team = serializers.SlugField(required=False, default="")

    @extend_schema(
        operation_id="webhooks_list",
        responses={200: WebhookOutput(many=True)},
        summary="Webhooks of your teams",
    )
    def get(self, request: Request) -> Response:
        hooks = actable(request.user, Webhook.objects.select_related("team"))
        paginator = Pagination()
        page = paginator.paginate_queryset(hooks.order_by("id"), request, view=self)
        return paginator.get_paginated_response(WebhookOutput(page, many=True).data)

    @extend_schema(
        operation_id="webhooks_create",
        request=InputSerializer,
        responses={201: WebhookOutput},
        summary="Add a webhook",
    )
    def post(self, request: Request) -> Response:
        data = valid(self.InputSerializer(data=request.data))
        team = _team(request.user, data["team"])
        require(request.user, "monitoring.add_webhook", Webhook(team=team))
        hook = notify.webhook_create(
            team=team,
            url=data["url"],
            secret=data["secret"],
            events=data["events"],
            actor=request.user,
        )
        return Response(WebhookOutput(hook).data, status=status.HTTP_201_CREATED)
