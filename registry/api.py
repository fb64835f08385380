"""Registry API: the metadata schema, models and versions (import lives in import_api.py)."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import Pagination
from registry.models import ModelVersion, RegisteredModel, Task
from registry.schema import METADATA_SCHEMA
from registry.selectors import ModelFilters, model_list
from registry.services import RegistryValidationError, registered_model_create


class MetadataSchemaApi(APIView):
    # The contract is public: importers and CI pipelines validate documents before sending them.
    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(responses={200: dict}, summary="The model-metadata JSON Schema (draft 2020-12)")
    def get(self, request: Request) -> Response:
        return Response(METADATA_SCHEMA, content_type="application/schema+json")


class VersionSummarySerializer(serializers.ModelSerializer):
    url = serializers.CharField(source="get_absolute_url")

    class Meta:
        model = ModelVersion
        ref_name = "ModelVersionSummary"
        fields = ["id", "version", "status", "flavor", "source", "created_at", "url"]


class ModelOutputSerializer(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.get_username", default=None)
    versions = VersionSummarySerializer(many=True)
    url = serializers.CharField(source="get_absolute_url")

    class Meta:
        model = RegisteredModel
        ref_name = "RegisteredModel"
        fields = ["id", "name", "slug", "description", "task", "tags", "owner", "created_at",
                  "updated_at", "url", "versions"]


def _validation_error(exc: RegistryValidationError) -> Response:
    return Response(
        {"message": "Invalid input: " + str(exc), "errors": exc.errors}, status=status.HTTP_400_BAD_REQUEST
    )


class ModelListCreateApi(APIView):
    class FilterSerializer(serializers.Serializer):
        q = serializers.CharField(required=False, allow_blank=True)
        task = serializers.ChoiceField(choices=Task.choices, required=False, allow_blank=True)
        status = serializers.CharField(required=False, allow_blank=True)
        tag = serializers.CharField(required=False, allow_blank=True)

    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=200)
        task = serializers.ChoiceField(choices=Task.choices, default=Task.BINARY)
        description = serializers.CharField(required=False, allow_blank=True, default="")
        tags = serializers.ListField(child=serializers.CharField(max_length=50), required=False, default=list)

        class Meta:
            ref_name = "RegisteredModelCreateInput"  # nested names collide across apps in OpenAPI

    OutputSerializer = ModelOutputSerializer

    @extend_schema(parameters=[FilterSerializer], responses={200: ModelOutputSerializer(many=True)},
                   summary="List registered models (search, filter by task, status, tag)")
    def get(self, request: Request) -> Response:
        filters = ModelFilters.from_params(request.query_params)
        if filters.errors:
            return Response(
                {"message": "Invalid filter: " + " ".join(filters.errors.values()),
                 "errors": {k: [v] for k, v in filters.errors.items()}},
                status=status.HTTP_400_BAD_REQUEST,
            )
        paginator = Pagination()
        page = paginator.paginate_queryset(model_list(filters), request, view=self)
        return paginator.get_paginated_response(self.OutputSerializer(page, many=True).data)

    @extend_schema(request=InputSerializer, responses={201: ModelOutputSerializer},
                   summary="Register a new model")
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            model = registered_model_create(owner=request.user, **data.validated_data)
        except RegistryValidationError as exc:
            return _validation_error(exc)
        return Response(self.OutputSerializer(model).data, status=status.HTTP_201_CREATED)


class ModelDetailApi(APIView):
    OutputSerializer = ModelOutputSerializer

    @extend_schema(responses={200: ModelOutputSerializer}, summary="One registered model and its versions")
    def get(self, request: Request, slug: str) -> Response:
        model = get_object_or_404(RegisteredModel.objects.prefetch_related("versions"), slug=slug)
        return Response(self.OutputSerializer(model).data)


class VersionDetailApi(APIView):
    class OutputSerializer(serializers.ModelSerializer):
        model = serializers.CharField(source="model.slug")
        parent = serializers.CharField(source="parent.version", default=None)
        provider = serializers.CharField(source="provider.name", default=None)
        mapping_provider = serializers.CharField(source="mapping_provider.name", default=None)
        trusted_by = serializers.CharField(source="trusted_by.get_username", default=None)
        created_by = serializers.CharField(source="created_by.get_username", default=None)
        has_artifact = serializers.SerializerMethodField()
        url = serializers.CharField(source="get_absolute_url")

        class Meta:
            model = ModelVersion
            ref_name = "ModelVersionDetail"
            fields = ["id", "model", "version", "status", "flavor", "description", "metadata",
                      "raw_document", "mapping_method", "mapping_provider", "mapping_model",
                      "mapping_report", "has_artifact", "artifact_sha256", "trusted_types",
                      "trusted_by", "trusted_at", "provider", "provider_model", "prompt_template",
                      "response_parser", "parent", "source", "source_ref", "created_by",
                      "created_at", "updated_at", "url"]

        def get_has_artifact(self, obj: ModelVersion) -> bool:
            return bool(obj.artifact)

    @extend_schema(responses={200: OutputSerializer}, summary="One model version with its metadata")
    def get(self, request: Request, slug: str, version: str) -> Response:
        obj = get_object_or_404(
            ModelVersion.objects.select_related("model", "parent", "provider", "mapping_provider",
                                                "trusted_by", "created_by"),
            model__slug=slug,
            version=version,
        )
        return Response(self.OutputSerializer(obj).data)
