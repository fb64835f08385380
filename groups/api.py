"""The group API for people (session) and workflows (API key with the `manage`/`read`
scopes): list, create, read, change, delete, promote, set traffic, roll back, and the
pending changes of groups that require approval. (Predictions are inference/api.py's.)

Serializers only check shapes; the rules are the services', whose ServiceErrors become
{"message", "errors": {field: [...]}} in core.api.exception_handler. Every view names
the permission each method needs (`perms`) and fetches its group through
`groups.selectors.group_for` (key scope, then 404, then the object permission).
"""

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import PAGE_PARAMETERS, Pagination, valid
from core.errors import ServiceError
from core.filters import filter_parameters
from core.permissions import require
from groups.filters import GroupFilterSet
from groups.models import (
    DeletionPolicy,
    ModelGroup,
    PendingChange,
    PendingStatus,
    Role,
    RoleChange,
    RoutingMode,
)
from groups.routing import by_role
from groups.selectors import group_for, groups_with_members, team_for_new_group
from groups.services import (
    MemberSpec,
    group_create,
    group_delete,
    group_promote,
    group_rollback,
    group_set_traffic,
    group_slug,
    group_update,
    pending_change_approve,
    pending_change_reject,
)
from registry.models import ModelVersion, Task

VIEW = "groups.view_modelgroup"
ADD = "groups.add_modelgroup"
CHANGE = "groups.change_modelgroup"
DELETE = "groups.delete_modelgroup"
PROMOTE = "groups.promote_modelgroup"
VIEW_PENDING = "groups.view_pendingchange"
APPROVE = "groups.approve_pendingchange"


class GroupMemberInput(serializers.Serializer):
    model_version = serializers.PrimaryKeyRelatedField(
        queryset=ModelVersion.objects.select_related("model")
    )
    role = serializers.ChoiceField(choices=Role.choices)
    weight = serializers.IntegerField(min_value=0, max_value=100)


class GroupMemberOutput(serializers.Serializer):
    model_version = serializers.IntegerField(source="model_version_id")
    model = serializers.CharField(source="model_version.model.name")
    version = serializers.CharField(source="model_version.version")
    role = serializers.CharField()
    weight = serializers.IntegerField()


class GroupOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    slug = serializers.CharField()
    description = serializers.CharField()
    task = serializers.CharField()
    team = serializers.CharField(source="team.slug")
    routing = serializers.CharField(source="routing_mode")
    deletion_policy = serializers.CharField()
    is_active = serializers.BooleanField()
    requires_approval = serializers.BooleanField()
    features = serializers.ListField(child=serializers.CharField())
    table_name = serializers.CharField()
    endpoint = serializers.SerializerMethodField()
    members = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()

    def get_endpoint(self, group: ModelGroup) -> str:
        path = reverse("group-predict", kwargs={"slug": group.slug})
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path

    @extend_schema_field(GroupMemberOutput(many=True))
    def get_members(self, group: ModelGroup) -> list[dict]:
        # group.memberships.all() is prefetched on lists.
        return GroupMemberOutput(by_role(group.memberships.all()), many=True).data


def _specs(members: list[dict]) -> list[MemberSpec]:
    return [MemberSpec(m["model_version"], m["role"], m["weight"]) for m in members]


def _group_body(request: Request, group: ModelGroup) -> dict:
    group = groups_with_members(request.user).filter(pk=group.pk).first() or group
    return GroupOutput(group, context={"request": request}).data


def page_of(serializer: type[serializers.Serializer], name: str) -> serializers.Serializer:
    """The schema of a page of `serializer` (core.api.Pagination's answer)."""
    page = type(
        name,
        (serializers.Serializer,),
        {
            "count": serializers.IntegerField(),
            "next": serializers.URLField(allow_null=True),
            "previous": serializers.URLField(allow_null=True),
            "results": serializer(many=True),
        },
    )
    return page()


GROUP_FILTERS = filter_parameters(GroupFilterSet)


class GroupListCreateApi(APIView):
    """GET: the groups, filtered and paginated. POST: create one (its table comes with it)."""

    perms = {"GET": VIEW, "POST": ADD}
    filterset_class = GroupFilterSet  # read by the schema (hub/openapi.py)

    class GroupCreateInput(serializers.Serializer):
        name = serializers.CharField(max_length=200)
        description = serializers.CharField(required=False, allow_blank=True, default="")
        task = serializers.ChoiceField(choices=Task.choices, required=False)
        team = serializers.SlugField(
            required=False,
            help_text="The owning team's slug: one of yours (default: your only team). "
            "A key creates in its own team.",
        )
        routing = serializers.ChoiceField(choices=RoutingMode.choices, default=RoutingMode.WEIGHTED)
        deletion_policy = serializers.ChoiceField(
            choices=DeletionPolicy.choices, default=DeletionPolicy.ARCHIVE
        )
        requires_approval = serializers.BooleanField(required=False, default=False)
        features = serializers.ListField(
            child=serializers.CharField(), required=False, allow_empty=False
        )
        members = GroupMemberInput(many=True, allow_empty=False)

    @extend_schema(
        operation_id="groups_list",
        parameters=GROUP_FILTERS + PAGE_PARAMETERS,
        responses=page_of(GroupOutput, "GroupPage"),
    )
    def get(self, request: Request) -> Response:
        groups = GroupFilterSet(request.query_params, queryset=groups_with_members(request.user))
        paginator = Pagination()
        page = paginator.paginate_queryset(groups.filtered(), request, view=self)
        data = GroupOutput(page, many=True, context={"request": request}).data
        return paginator.get_paginated_response(data)

    @extend_schema(
        operation_id="groups_create", request=GroupCreateInput, responses={201: GroupOutput}
    )
    def post(self, request: Request) -> Response:
        data = valid(self.GroupCreateInput(data=request.data))
        team = team_for_new_group(request.user, data.get("team"))
        # The group as it would be: its team and slug decide who may create it.
        require(request.user, ADD, ModelGroup(team=team, slug=group_slug(data["name"])))
        group = group_create(
            name=data["name"],
            description=data["description"],
            task=data.get("task"),
            routing_mode=data["routing"],
            deletion_policy=data["deletion_policy"],
            requires_approval=data["requires_approval"],
            features=data.get("features"),
            members=_specs(data["members"]),
            team=team,
            created_by=request.user,
        )
        return Response(_group_body(request, group), status=status.HTTP_201_CREATED)


class GroupDetailApi(APIView):
    """GET one group; PATCH its details or members (slug fixed); DELETE it (table per policy)."""

    perms = {"GET": VIEW, "PATCH": CHANGE, "DELETE": DELETE}

    class GroupUpdateInput(serializers.Serializer):
        name = serializers.CharField(max_length=200, required=False)
        description = serializers.CharField(required=False, allow_blank=True)
        routing = serializers.ChoiceField(choices=RoutingMode.choices, required=False)
        deletion_policy = serializers.ChoiceField(choices=DeletionPolicy.choices, required=False)
        is_active = serializers.BooleanField(required=False)
        requires_approval = serializers.BooleanField(required=False)
        task = serializers.ChoiceField(choices=Task.choices, required=False)
        features = serializers.ListField(
            child=serializers.CharField(), required=False, allow_empty=False
        )
        members = GroupMemberInput(many=True, required=False)
        reason = serializers.CharField(required=False, allow_blank=True, default="")

    @extend_schema(operation_id="groups_retrieve", responses=GroupOutput)
    def get(self, request: Request, slug: str) -> Response:
        return Response(_group_body(request, group_for(request.user, slug, VIEW)))

    @extend_schema(operation_id="groups_update", request=GroupUpdateInput, responses=GroupOutput)
    def patch(self, request: Request, slug: str) -> Response:
        group = group_for(request.user, slug, CHANGE)
        data = valid(self.GroupUpdateInput(data=request.data, partial=True))
        group = group_update(
            group=group,
            actor=request.user,
            name=data.get("name"),
            description=data.get("description"),
            routing_mode=data.get("routing"),
            deletion_policy=data.get("deletion_policy"),
            is_active=data.get("is_active"),
            requires_approval=data.get("requires_approval"),
            task=data.get("task"),
            features=data.get("features"),
            members=_specs(data["members"]) if "members" in data else None,
            reason=data.get("reason", ""),
        )
        return Response(_group_body(request, group))

    @extend_schema(operation_id="groups_destroy", responses={204: None})
    def delete(self, request: Request, slug: str) -> Response:
        group_delete(group=group_for(request.user, slug, DELETE), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class RoleChangeOutput(serializers.Serializer):
    id = serializers.IntegerField()
    action = serializers.CharField()
    from_version = serializers.IntegerField(source="from_version_id", allow_null=True)
    to_version = serializers.IntegerField(source="to_version_id", allow_null=True)
    weights_before = serializers.JSONField()
    weights_after = serializers.JSONField()
    reason = serializers.CharField()
    actor = serializers.CharField(source="actor.get_username", default=None, allow_null=True)
    api_key = serializers.CharField(source="api_key.prefix", default=None, allow_null=True)
    approved_by = serializers.CharField(
        source="approved_by.get_username", default=None, allow_null=True
    )
    created_at = serializers.DateTimeField()


class PendingChangeOutput(serializers.Serializer):
    id = serializers.IntegerField()
    group = serializers.CharField(source="group.slug")
    action = serializers.CharField()
    payload = serializers.JSONField()
    reason = serializers.CharField()
    author = serializers.CharField(source="author_label")
    status = serializers.CharField()
    decided_by = serializers.CharField(
        source="decided_by.get_username", default=None, allow_null=True
    )
    decided_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()


class ChangeOutput(serializers.Serializer):
    change = RoleChangeOutput()
    group = GroupOutput()


class PendingOutput(serializers.Serializer):
    pending_change = PendingChangeOutput()
    message = serializers.CharField()


def _change_response(
    request: Request, group: ModelGroup, result: RoleChange | PendingChange
) -> Response:
    """200 with the change and the group as it now is; 202 with the pending change when
    the group requires approval."""
    if isinstance(result, PendingChange):
        body = {
            "pending_change": PendingChangeOutput(result).data,
            "message": f"{group.name} requires approval: the change waits for another person.",
        }
        return Response(body, status=status.HTTP_202_ACCEPTED)
    return Response({"change": RoleChangeOutput(result).data, "group": _group_body(request, group)})


class GroupPromoteApi(APIView):
    """POST {"model_version": id, "reason"?}: that member becomes champion with 100%."""

    perms = {"POST": PROMOTE}

    class GroupPromoteInput(serializers.Serializer):
        model_version = serializers.PrimaryKeyRelatedField(
            queryset=ModelVersion.objects.select_related("model")
        )
        reason = serializers.CharField(required=False, allow_blank=True, default="")
        former_champion_role = serializers.ChoiceField(
            choices=[Role.CHALLENGER, Role.SHADOW], default=Role.CHALLENGER
        )

    @extend_schema(
        operation_id="groups_promote",
        request=GroupPromoteInput,
        responses={200: ChangeOutput, 202: PendingOutput},
    )
    def post(self, request: Request, slug: str) -> Response:
        group = group_for(request.user, slug, PROMOTE)
        data = valid(self.GroupPromoteInput(data=request.data))
        result = group_promote(
            group=group,
            model_version=data["model_version"],
            actor=request.user,
            reason=data["reason"],
            former_champion_role=data["former_champion_role"],
        )
        return _change_response(request, group, result)


class GroupTrafficApi(APIView):
    """POST {"weights": {"<version id>": weight, ...}, "reason"?}: canary weights."""

    perms = {"POST": PROMOTE}

    class GroupTrafficInput(serializers.Serializer):
        weights = serializers.DictField(
            child=serializers.IntegerField(min_value=0, max_value=100), allow_empty=False
        )
        reason = serializers.CharField(required=False, allow_blank=True, default="")

    @extend_schema(
        operation_id="groups_traffic",
        request=GroupTrafficInput,
        responses={200: ChangeOutput, 202: PendingOutput},
    )
    def post(self, request: Request, slug: str) -> Response:
        group = group_for(request.user, slug, PROMOTE)
        data = valid(self.GroupTrafficInput(data=request.data))
        result = group_set_traffic(
            group=group, weights=data["weights"], actor=request.user, reason=data["reason"]
        )
        return _change_response(request, group, result)


class GroupRollbackApi(APIView):
    """POST {"reason"?}: restore the champion and weights before the last promotion."""

    perms = {"POST": PROMOTE}

    class GroupRollbackInput(serializers.Serializer):
        reason = serializers.CharField(required=False, allow_blank=True, default="")

    @extend_schema(
        operation_id="groups_rollback",
        request=GroupRollbackInput,
        responses={200: ChangeOutput, 202: PendingOutput},
    )
    def post(self, request: Request, slug: str) -> Response:
        group = group_for(request.user, slug, PROMOTE)
        data = valid(self.GroupRollbackInput(data=request.data))
        result = group_rollback(group=group, actor=request.user, reason=data["reason"])
        return _change_response(request, group, result)


def _pending(group: ModelGroup) -> QuerySet[PendingChange]:
    return group.pending_changes.select_related("group", "author", "author_key", "decided_by")


class PendingChangeListApi(APIView):
    """GET the group's pending changes (`?status=pending|applied|rejected`), newest first."""

    perms = {"GET": VIEW_PENDING}

    @extend_schema(
        operation_id="groups_pending_changes_list",
        parameters=[
            OpenApiParameter("status", str, enum=PendingStatus.values, description="Only these."),
            *PAGE_PARAMETERS,
        ],
        responses=page_of(PendingChangeOutput, "PendingChangePage"),
    )
    def get(self, request: Request, slug: str) -> Response:
        group = group_for(request.user, slug, VIEW_PENDING)
        changes = _pending(group)
        wanted = request.query_params.get("status")
        if wanted and wanted not in PendingStatus.values:
            raise ServiceError({"status": [f"Use one of {', '.join(PendingStatus.values)}."]})
        if wanted:
            changes = changes.filter(status=wanted)
        paginator = Pagination()
        page = paginator.paginate_queryset(changes, request, view=self)
        return paginator.get_paginated_response(PendingChangeOutput(page, many=True).data)


class PendingChangeApproveApi(APIView):
    """POST: apply a pending change (another person than its author)."""

    perms = {"POST": APPROVE}

    @extend_schema(
        operation_id="groups_pending_changes_approve",
        request=None,
        responses={200: ChangeOutput},
        parameters=[OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH)],
    )
    def post(self, request: Request, slug: str, id: int) -> Response:
        group = group_for(request.user, slug, APPROVE)
        pending = get_object_or_404(_pending(group), pk=id)
        change = pending_change_approve(pending=pending, approver=request.user)
        return _change_response(request, group, change)


class PendingChangeRejectApi(APIView):
    """POST: refuse a pending change (another person than its author); nothing applies."""

    perms = {"POST": APPROVE}

    @extend_schema(
        operation_id="groups_pending_changes_reject",
        request=None,
        responses={200: PendingChangeOutput},
        parameters=[OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH)],
    )
    def post(self, request: Request, slug: str, id: int) -> Response:
        group = group_for(request.user, slug, APPROVE)
        pending = get_object_or_404(_pending(group), pk=id)
        rejected = pending_change_reject(pending=pending, approver=request.user)
        return Response(PendingChangeOutput(rejected).data)
