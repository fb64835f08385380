"""The group API for people and scripts with a session: list, create, read, change,
delete, promote, set traffic, roll back. (Predictions are inference/api.py's.)

Serializers only check shapes; the rules are the services', whose field-named errors come
back as {"message", "errors": {field: [...]}} with status 400.
"""

from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import Pagination
from groups.models import DeletionPolicy, ModelGroup, Role, RoutingMode
from groups.services import (
    GroupValidationError,
    MemberSpec,
    group_create,
    group_delete,
    group_promote,
    group_rollback,
    group_set_traffic,
    group_update,
)
from registry.models import ModelVersion, Task

ROLE_ORDER = {Role.CHAMPION: 0, Role.CHALLENGER: 1, Role.SHADOW: 2}


def _flat(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested errors as flat field paths: members[1].weight -> [...]."""
    if isinstance(detail, dict):
        flat: dict[str, list[str]] = {}
        for key, value in detail.items():
            if isinstance(key, int):  # a list serializer's errors, by index
                name = f"{prefix}[{key}]"
            else:
                name = f"{prefix}.{key}" if prefix else str(key)
            flat.update(_flat(value, "" if key == "non_field_errors" and not prefix else name))
        return flat
    if isinstance(detail, list) and detail and all(isinstance(d, (dict, list)) for d in detail):
        flat = {}
        for index, item in enumerate(detail):
            flat.update(_flat(item, f"{prefix}[{index}]"))
        return flat
    messages = [str(d) for d in detail] if isinstance(detail, list) else [str(detail)]
    return {prefix or "non_field_errors": messages} if messages else {}


def _valid(serializer: serializers.Serializer) -> dict:
    if not serializer.is_valid():
        raise ValidationError(_flat(serializer.errors))
    return serializer.validated_data


class GroupMemberInput(serializers.Serializer):
    model_version = serializers.PrimaryKeyRelatedField(
        queryset=ModelVersion.objects.select_related("model")
    )
    role = serializers.ChoiceField(choices=Role.choices)
    weight = serializers.IntegerField(min_value=0, max_value=100)


class GroupOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    slug = serializers.CharField()
    description = serializers.CharField()
    task = serializers.CharField()
    routing = serializers.CharField(source="routing_mode")
    deletion_policy = serializers.CharField()
    is_active = serializers.BooleanField()
    features = serializers.ListField(child=serializers.CharField())
    table_name = serializers.CharField()
    endpoint = serializers.SerializerMethodField()
    members = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()

    def get_endpoint(self, group: ModelGroup) -> str:
        path = f"/api/v1/groups/{group.slug}/predict"
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path

    def get_members(self, group: ModelGroup) -> list[dict]:
        return [
            {
                "model_version": m.model_version_id,
                "model": m.model_version.model.name,
                "version": m.model_version.version,
                "role": m.role,
                "weight": m.weight,
            }
            for m in sorted(
                group.memberships.all(),  # prefetched on lists
                key=lambda m: (ROLE_ORDER.get(m.role, 3), -m.weight, m.model_version_id),
            )
        ]


def _service_error(error: GroupValidationError) -> ValidationError:
    return ValidationError(error.errors)


def _group(slug: str) -> ModelGroup:
    return get_object_or_404(ModelGroup, slug=slug)


def _specs(members: list[dict]) -> list[MemberSpec]:
    return [MemberSpec(m["model_version"], m["role"], m["weight"]) for m in members]


class GroupListCreateApi(APIView):
    """GET: the groups, paginated. POST: create one (its table comes with it)."""

    class GroupCreateInput(serializers.Serializer):
        name = serializers.CharField(max_length=200)
        description = serializers.CharField(required=False, allow_blank=True, default="")
        task = serializers.ChoiceField(choices=Task.choices, required=False)
        routing = serializers.ChoiceField(choices=RoutingMode.choices, default=RoutingMode.WEIGHTED)
        deletion_policy = serializers.ChoiceField(
            choices=DeletionPolicy.choices, default=DeletionPolicy.ARCHIVE
        )
        features = serializers.ListField(
            child=serializers.CharField(), required=False, allow_empty=False
        )
        members = GroupMemberInput(many=True, allow_empty=False)

    @extend_schema(operation_id="groups_list", responses=GroupOutput(many=True))
    def get(self, request: Request) -> Response:
        paginator = Pagination()
        groups = ModelGroup.objects.prefetch_related("memberships__model_version__model")
        page = paginator.paginate_queryset(groups, request, view=self)
        data = GroupOutput(page, many=True, context={"request": request}).data
        return paginator.get_paginated_response(data)

    @extend_schema(
        operation_id="groups_create", request=GroupCreateInput, responses={201: GroupOutput}
    )
    def post(self, request: Request) -> Response:
        data = _valid(self.GroupCreateInput(data=request.data))
        try:
            group = group_create(
                name=data["name"],
                description=data["description"],
                task=data.get("task"),
                routing_mode=data["routing"],
                deletion_policy=data["deletion_policy"],
                features=data.get("features"),
                members=_specs(data["members"]),
                created_by=request.user,
            )
        except GroupValidationError as error:
            raise _service_error(error) from error
        body = GroupOutput(group, context={"request": request}).data
        return Response(body, status=status.HTTP_201_CREATED)


class GroupDetailApi(APIView):
    """GET one group; PATCH its details or members (slug fixed); DELETE it (table per policy)."""

    class GroupUpdateInput(serializers.Serializer):
        name = serializers.CharField(max_length=200, required=False)
        description = serializers.CharField(required=False, allow_blank=True)
        routing = serializers.ChoiceField(choices=RoutingMode.choices, required=False)
        deletion_policy = serializers.ChoiceField(choices=DeletionPolicy.choices, required=False)
        is_active = serializers.BooleanField(required=False)
        task = serializers.ChoiceField(choices=Task.choices, required=False)
        features = serializers.ListField(
            child=serializers.CharField(), required=False, allow_empty=False
        )
        members = GroupMemberInput(many=True, required=False)
        reason = serializers.CharField(required=False, allow_blank=True, default="")

    @extend_schema(operation_id="groups_retrieve", responses=GroupOutput)
    def get(self, request: Request, slug: str) -> Response:
        return Response(GroupOutput(_group(slug), context={"request": request}).data)

    @extend_schema(operation_id="groups_update", request=GroupUpdateInput, responses=GroupOutput)
    def patch(self, request: Request, slug: str) -> Response:
        group = _group(slug)
        data = _valid(self.GroupUpdateInput(data=request.data, partial=True))
        try:
            group = group_update(
                group=group,
                actor=request.user,
                name=data.get("name"),
                description=data.get("description"),
                routing_mode=data.get("routing"),
                deletion_policy=data.get("deletion_policy"),
                is_active=data.get("is_active"),
                task=data.get("task"),
                features=data.get("features"),
                members=_specs(data["members"]) if "members" in data else None,
                reason=data.get("reason", ""),
            )
        except GroupValidationError as error:
            raise _service_error(error) from error
        return Response(GroupOutput(group, context={"request": request}).data)

    @extend_schema(operation_id="groups_destroy", responses={204: None})
    def delete(self, request: Request, slug: str) -> Response:
        group_delete(group=_group(slug), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class RoleChangeOutput(serializers.Serializer):
    id = serializers.IntegerField()
    action = serializers.CharField()
    from_version = serializers.IntegerField(source="from_version_id", allow_null=True)
    to_version = serializers.IntegerField(source="to_version_id", allow_null=True)
    weights_before = serializers.JSONField()
    weights_after = serializers.JSONField()
    reason = serializers.CharField()
    actor = serializers.CharField(source="actor.get_username", default=None)
    created_at = serializers.DateTimeField()


class ChangeOutput(serializers.Serializer):
    change = RoleChangeOutput()
    group = GroupOutput()


def _change_response(request: Request, group: ModelGroup, change) -> Response:
    group.refresh_from_db()
    return Response(
        {
            "change": RoleChangeOutput(change).data,
            "group": GroupOutput(group, context={"request": request}).data,
        }
    )


class GroupPromoteApi(APIView):
    """POST {"model_version": id, "reason"?}: that member becomes champion with 100%."""

    class GroupPromoteInput(serializers.Serializer):
        model_version = serializers.PrimaryKeyRelatedField(
            queryset=ModelVersion.objects.select_related("model")
        )
        reason = serializers.CharField(required=False, allow_blank=True, default="")
        former_champion_role = serializers.ChoiceField(
            choices=[Role.CHALLENGER, Role.SHADOW], default=Role.CHALLENGER
        )

    @extend_schema(operation_id="groups_promote", request=GroupPromoteInput, responses=ChangeOutput)
    def post(self, request: Request, slug: str) -> Response:
        group = _group(slug)
        data = _valid(self.GroupPromoteInput(data=request.data))
        try:
            change = group_promote(
                group=group,
                model_version=data["model_version"],
                actor=request.user,
                reason=data["reason"],
                former_champion_role=data["former_champion_role"],
            )
        except GroupValidationError as error:
            raise _service_error(error) from error
        return _change_response(request, group, change)


class GroupTrafficApi(APIView):
    """POST {"weights": {"<version id>": weight, ...}, "reason"?}: canary weights."""

    class GroupTrafficInput(serializers.Serializer):
        weights = serializers.DictField(
            child=serializers.IntegerField(min_value=0, max_value=100), allow_empty=False
        )
        reason = serializers.CharField(required=False, allow_blank=True, default="")

    @extend_schema(operation_id="groups_traffic", request=GroupTrafficInput, responses=ChangeOutput)
    def post(self, request: Request, slug: str) -> Response:
        group = _group(slug)
        data = _valid(self.GroupTrafficInput(data=request.data))
        try:
            change = group_set_traffic(
                group=group, weights=data["weights"], actor=request.user, reason=data["reason"]
            )
        except GroupValidationError as error:
            raise _service_error(error) from error
        return _change_response(request, group, change)


class GroupRollbackApi(APIView):
    """POST {"reason"?}: restore the champion and weights before the last promotion."""

    class GroupRollbackInput(serializers.Serializer):
        reason = serializers.CharField(required=False, allow_blank=True, default="")

    @extend_schema(
        operation_id="groups_rollback", request=GroupRollbackInput, responses=ChangeOutput
    )
    def post(self, request: Request, slug: str) -> Response:
        group = _group(slug)
        data = _valid(self.GroupRollbackInput(data=request.data))
        try:
            change = group_rollback(group=group, actor=request.user, reason=data["reason"])
        except GroupValidationError as error:
            raise _service_error(error) from error
        return _change_response(request, group, change)
