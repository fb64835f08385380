"""Registry API: the metadata schema, models and versions (import lives in import_api.py).

Each view names the permission each method needs (`perms`, core.permissions.HubPermission)
and checks the object it acts on with `require`; service errors reach the one handler."""

import json

from django.conf import settings
from django.contrib.auth import get_user_model
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import SlugRelatedField, valid
from core.errors import ServiceError
from core.permissions import require
from registry.artifacts import artifact_check_size
from registry.filters import ModelFilterSet
from registry.models import (
    ModelVersion,
    RegisteredModel,
    Task,
    ValidationStatus,
    VersionStatus,
    inventory_perms,
)
from registry.schema import METADATA_SCHEMA
from registry.selectors import model_get, model_list, version_get
from registry.services import (
    model_team_choose,
    model_version_next_label,
    model_version_transition,
    model_version_upload,
    person,
    registered_model_create,
    registered_model_inventory_update,
)


class MetadataSchemaApi(APIView):
    # The contract is public: importers and CI pipelines validate documents before sending them.
    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(
        responses={(200, "application/schema+json"): OpenApiTypes.OBJECT},
        operation_id="metadata_schema_retrieve",
        summary="The model-metadata JSON Schema (draft 2020-12)",
    )
    def get(self, request: Request) -> Response:
        return Response(METADATA_SCHEMA, content_type="application/schema+json")


class VersionSummarySerializer(serializers.ModelSerializer):
    url = serializers.CharField(source="get_absolute_url")

    class Meta:
        model = ModelVersion
        ref_name = "ModelVersionSummary"
        fields = ["id", "version", "status", "flavor", "source", "created_at", "url"]


class ModelOutputSerializer(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.get_username", default=None, allow_null=True)
    validator = serializers.CharField(
        source="validator.get_username", default=None, allow_null=True
    )
    team = serializers.CharField(source="team.slug")
    versions = VersionSummarySerializer(many=True)
    url = serializers.CharField(source="get_absolute_url")

    class Meta:
        model = RegisteredModel
        ref_name = "RegisteredModel"
        fields = [
            "id",
            "name",
            "slug",
            "description",
            "task",
            "tags",
            "owner",
            "team",
            "business_purpose",
            "intended_use",
            "known_limitations",
            "risk_tier",
            "validator",
            "validation_status",
            "validated_on",
            "next_review_on",
            "created_at",
            "updated_at",
            "url",
            "versions",
        ]


class ModelListCreateApi(GenericAPIView):
    perms = {"GET": "registry.view_registeredmodel", "POST": "registry.add_registeredmodel"}
    # Declared for the schema (the filter's parameters); get() filters through filtered().
    filter_backends = [DjangoFilterBackend]
    filterset_class = ModelFilterSet
    serializer_class = ModelOutputSerializer

    class InputSerializer(serializers.Serializer):
        # The service refuses a name without an ASCII letter or digit (its URL name); so does the schema.
        name = serializers.RegexField(r"[A-Za-z0-9]", max_length=200, min_length=1)
        task = serializers.ChoiceField(choices=Task.choices, default=Task.BINARY)
        description = serializers.CharField(required=False, allow_blank=True, default="")
        tags = serializers.ListField(
            child=serializers.CharField(max_length=50, min_length=1), required=False, default=list
        )
        team = serializers.SlugField(
            required=False,
            min_length=1,
            help_text="The owning team's slug; default: your only team (an API key: its team).",
        )

        class Meta:
            ref_name = "RegisteredModelCreateInput"  # nested names collide across apps in OpenAPI

    def get_queryset(self):
        return model_list(self.request.user)

    @extend_schema(
        responses={200: ModelOutputSerializer(many=True)},
        operation_id="models_list",
        summary="List registered models (search, filter by task, status, tag)",
    )
    def get(self, request: Request) -> Response:
        models = ModelFilterSet(
            request.query_params, queryset=self.get_queryset(), request=request
        ).filtered()
        page = self.paginate_queryset(models)
        return self.get_paginated_response(ModelOutputSerializer(page, many=True).data)

    @extend_schema(
        request=InputSerializer,
        responses={201: ModelOutputSerializer},
        operation_id="model_create",
        summary="Register a new model",
    )
    def post(self, request: Request) -> Response:
        data = valid(self.InputSerializer(data=request.data))
        team = model_team_choose(user=request.user, team=data.pop("team", ""))
        require(request.user, "registry.add_registeredmodel", RegisteredModel(team=team))
        model = registered_model_create(owner=person(request.user), team=team, **data)
        return Response(ModelOutputSerializer(model).data, status=status.HTTP_201_CREATED)


class InventoryInputSerializer(serializers.Serializer):
    """The inventory fields a PATCH may set: Operators of the team the first four, Approvers
    the validation ones."""

    business_purpose = serializers.CharField(required=False, allow_blank=True)
    intended_use = serializers.CharField(required=False, allow_blank=True)
    known_limitations = serializers.CharField(required=False, allow_blank=True)
    risk_tier = serializers.CharField(
        required=False, allow_blank=True, max_length=16, help_text="One of HUB_RISK_TIERS."
    )
    validator = SlugRelatedField(
        slug_field="username",
        queryset=get_user_model().objects.filter(is_active=True),
        required=False,
        allow_null=True,
        help_text="Username of the validator (not the owner).",
    )
    validation_status = serializers.ChoiceField(choices=ValidationStatus.choices, required=False)
    validated_on = serializers.DateField(required=False, allow_null=True)
    next_review_on = serializers.DateField(required=False, allow_null=True)

    class Meta:
        ref_name = "RegisteredModelInventoryInput"


class ModelDetailApi(APIView):
    # PATCH: the view requires change (inventory fields) and/or validate (validation
    # fields) on the model, by the fields sent (registry.models.inventory_perms).
    perms = {"GET": "registry.view_registeredmodel", "PATCH": "registry.view_registeredmodel"}

    @extend_schema(
        request=InventoryInputSerializer,
        responses={200: ModelOutputSerializer},
        operation_id="model_inventory_update",
        summary="Edit a model's inventory fields",
    )
    def patch(self, request: Request, slug: str) -> Response:
        model = model_get(request.user, slug)
        data = valid(InventoryInputSerializer(data=request.data, partial=True))
        if not data:
            raise ServiceError("Send at least one inventory field.")
        for perm in inventory_perms(data):
            require(request.user, perm, model)
        model = registered_model_inventory_update(model=model, changes=data)
        return Response(ModelOutputSerializer(model).data)

    @extend_schema(
        responses={200: ModelOutputSerializer},
        operation_id="model_retrieve",
        summary="One registered model and its versions",
    )
    def get(self, request: Request, slug: str) -> Response:
        model = model_get(request.user, slug)
        require(request.user, "registry.view_registeredmodel", model)
        return Response(ModelOutputSerializer(model).data)


class VersionDetailSerializer(serializers.ModelSerializer):
    model = serializers.CharField(source="model.slug")
    parent = serializers.CharField(source="parent.version", default=None, allow_null=True)
    provider = serializers.CharField(source="provider.name", default=None, allow_null=True)
    mapping_provider = serializers.CharField(
        source="mapping_provider.name", default=None, allow_null=True
    )
    trusted_by = serializers.CharField(
        source="trusted_by.get_username", default=None, allow_null=True
    )
    created_by = serializers.CharField(
        source="created_by.get_username", default=None, allow_null=True
    )
    has_artifact = serializers.SerializerMethodField()
    untrusted_types = serializers.ListField(
        child=serializers.CharField(), allow_null=True, read_only=True
    )
    url = serializers.CharField(source="get_absolute_url")

    class Meta:
        model = ModelVersion
        ref_name = "ModelVersionDetail"
        fields = [
            "id",
            "model",
            "version",
            "status",
            "flavor",
            "description",
            "metadata",
            "raw_document",
            "mapping_method",
            "mapping_provider",
            "mapping_model",
            "mapping_report",
            "has_artifact",
            "artifact_sha256",
            "untrusted_types",
            "trusted_types",
            "trusted_by",
            "trusted_at",
            "provider",
            "provider_model",
            "prompt_template",
            "response_parser",
            "parent",
            "source",
            "source_ref",
            "created_by",
            "created_at",
            "updated_at",
            "url",
        ]

    def get_has_artifact(self, obj: ModelVersion) -> bool:
        return bool(obj.artifact)


class VersionDetailApi(APIView):
    perms = {"GET": "registry.view_modelversion"}

    @extend_schema(
        responses={200: VersionDetailSerializer},
        operation_id="version_retrieve",
        summary="One model version with its metadata",
    )
    def get(self, request: Request, slug: str, version: str) -> Response:
        obj = version_get(request.user, slug, version)
        require(request.user, "registry.view_modelversion", obj)
        return Response(VersionDetailSerializer(obj).data)


class VersionStatusApi(APIView):
    """Move a version one step: draft -> staging -> production -> retired."""

    perms = {"POST": "registry.change_modelversion"}

    class InputSerializer(serializers.Serializer):
        to_status = serializers.ChoiceField(choices=VersionStatus.choices)

    @extend_schema(
        request=InputSerializer,
        responses={200: VersionDetailSerializer},
        operation_id="version_status_set",
        summary="Move a version to its next status",
    )
    def post(self, request: Request, slug: str, version: str) -> Response:
        obj = version_get(request.user, slug, version)
        require(request.user, "registry.change_modelversion", obj)
        data = valid(self.InputSerializer(data=request.data))
        model_version_transition(
            version=obj, to_status=data["to_status"], actor=person(request.user)
        )
        return Response(VersionDetailSerializer(obj).data)


class VersionUploadApi(APIView):
    """Upload a scikit-learn version (a skops artifact and its metadata) of a model: a draft."""

    perms = {"POST": "registry.add_modelversion"}
    parser_classes = [MultiPartParser]

    class InputSerializer(serializers.Serializer):
        artifact = serializers.FileField(
            help_text="A skops file (skops.io.dump); pickle is refused."
        )
        metadata = serializers.FileField(
            help_text="The metadata JSON document (model-metadata schema)."
        )
        version = serializers.RegexField(
            r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,31}$",
            required=False,
            help_text="Default: the next label (1.3 -> 1.4).",
        )
        description = serializers.CharField(required=False, allow_blank=True, default="")

    @extend_schema(
        request={"multipart/form-data": InputSerializer},
        responses={201: VersionDetailSerializer},
        operation_id="version_upload",
        summary="Upload a scikit-learn version of a model (saved as a draft)",
    )
    def post(self, request: Request, slug: str) -> Response:
        model = model_get(request.user, slug)
        require(request.user, "registry.add_modelversion", model)
        data = valid(self.InputSerializer(data=request.data))
        artifact_check_size(data["artifact"].size)
        version = model_version_upload(
            model=model,
            version=data.get("version") or model_version_next_label(model=model),
            metadata=_metadata(data["metadata"]),
            artifact=data["artifact"].read(),
            created_by=person(request.user),
            description=data["description"],
        )
        return Response(VersionDetailSerializer(version).data, status=status.HTTP_201_CREATED)


def _metadata(upload) -> dict:
    limit = settings.HUB_METADATA_MAX_BYTES
    if upload.size > limit:
        raise ServiceError(
            {"metadata": [f"The metadata file is larger than {limit // 1024 // 1024} MB."]}
        )
    try:
        document = json.load(upload)
    except (ValueError, RecursionError) as exc:
        raise ServiceError({"metadata": [f"Not valid JSON: {exc}."]}) from None
    if not isinstance(document, dict):
        raise ServiceError({"metadata": ["The metadata must be a JSON object."]})
    return document
