"""POST /api/v1/models/import (the preview, with a token) and POST /api/v1/models/import/confirm."""

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from registry.importer import (
    MAX_DOCUMENT_BYTES,
    ImportOptions,
    ImportRefused,
    ImportSource,
    import_confirm,
    import_preview,
    json_parse,
)
from registry.models import Task


class ImportJSONParser(JSONParser):
    """DRF's JSON parser, with the importer's limits: a body nested ten thousand levels deep
    or larger than the limit is a clear 400, not a RecursionError."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: dict | None = None) -> Any:
        body = stream.read(MAX_DOCUMENT_BYTES + 1) if stream is not None else b""
        if len(body) > MAX_DOCUMENT_BYTES:
            raise ParseError(f"The request is larger than the {MAX_DOCUMENT_BYTES // 1024 // 1024} MB limit.")
        try:
            return json_parse(body)
        except ImportRefused as exc:
            raise ParseError(exc.message) from None


def _refusal(message: str, errors: dict[str, list[str]], **extra: Any) -> Response:
    return Response({"message": message, "errors": errors, **extra}, status=status.HTTP_400_BAD_REQUEST)


class ModelImportApi(APIView):
    """Map a document (or a JSON array of them, or uploaded files) onto the metadata schema.
    Nothing is saved: the answer is a preview with a token for the confirm call."""

    parser_classes = [ImportJSONParser, MultiPartParser]

    @extend_schema_serializer(component_name="ModelImportInput")
    class InputSerializer(serializers.Serializer):
        document = serializers.JSONField(
            required=False, help_text="The document: a JSON object or an array of them (or its text)."
        )
        model_name = serializers.CharField(required=False, allow_blank=True, max_length=200)
        task = serializers.ChoiceField(choices=Task.choices, required=False, allow_blank=True)
        version = serializers.CharField(required=False, allow_blank=True, max_length=32)

    @extend_schema_serializer(component_name="ModelImportPreview")
    class OutputSerializer(serializers.Serializer):
        token = serializers.CharField(allow_null=True)
        expires_at = serializers.CharField(allow_null=True)
        ready_count = serializers.IntegerField()
        refused_count = serializers.IntegerField()
        items = serializers.ListField(child=serializers.DictField())

    @extend_schema(
        request=InputSerializer,
        parameters=[
            OpenApiParameter("model_name", str, description="When the body is the document itself."),
            OpenApiParameter("task", str, description="When the body is the document itself."),
            OpenApiParameter("version", str, description="When the body is the document itself."),
        ],
        responses={200: OutputSerializer, 400: dict},
        summary="Preview an import: map a document onto the metadata schema (nothing is saved)",
    )
    def post(self, request: Request) -> Response:
        # Either an envelope {"document": ..., "model_name": ...}, or the document itself as
        # the body (`curl --data @model.json`), with the options in the query string.
        data = request.data
        bare = (
            not request.FILES
            and request.content_type.startswith("application/json")
            and (not isinstance(data, dict) or (bool(data) and "document" not in data))
        )
        serializer = self.InputSerializer(data=request.query_params if bare else data)
        serializer.is_valid(raise_exception=True)
        options = serializer.validated_data
        sources = []
        if bare:
            sources.append(ImportSource("document", document=data))
        elif "document" in data:
            document = options.get("document")
            sources.append(
                ImportSource("document", text=document)
                if isinstance(document, str)
                else ImportSource("document", document=document)
            )
        for upload in request.FILES.getlist("file") + request.FILES.getlist("files"):
            if upload.size > MAX_DOCUMENT_BYTES:
                return _refusal(
                    f"{upload.name} is too large; the limit is {MAX_DOCUMENT_BYTES // 1024 // 1024} MB.",
                    {"files": [f"{upload.name} is too large."]},
                )
            sources.append(ImportSource(upload.name, text=upload.read()))
        try:
            preview = import_preview(
                sources=sources,
                options=ImportOptions(
                    model_name=options.get("model_name", ""),
                    task=options.get("task", ""),
                    version=options.get("version", ""),
                ),
                user=request.user,
            )
        except ImportRefused as exc:
            return _refusal(exc.message, exc.errors)
        body = self.OutputSerializer(preview).data
        if not preview["ready_count"]:
            problems = {
                item["label"]: [item["message"], *(f"{i['path']}: {i['message']}" for i in item["issues"])]
                for item in preview["items"]
            }
            return _refusal("Nothing in this upload can be imported; nothing was saved.", problems, **body)
        return Response(body)


class ModelImportConfirmApi(APIView):
    """Save the ready items of a preview. Confirming a token twice saves nothing the second time."""

    @extend_schema_serializer(component_name="ModelImportConfirmInput")
    class InputSerializer(serializers.Serializer):
        token = serializers.CharField(max_length=100)

    @extend_schema_serializer(component_name="ModelImportOutcome")
    class OutputSerializer(serializers.Serializer):
        saved_count = serializers.IntegerField()
        refused_count = serializers.IntegerField()
        already_confirmed = serializers.BooleanField()
        items = serializers.ListField(child=serializers.DictField())

    @extend_schema(
        request=InputSerializer,
        responses={201: OutputSerializer, 200: OutputSerializer, 400: dict},
        summary="Confirm an import preview: save its ready versions",
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            outcome = import_confirm(token=serializer.validated_data["token"], user=request.user)
        except ImportRefused as exc:
            return _refusal(exc.message, exc.errors)
        created = outcome["saved_count"] and not outcome["already_confirmed"]
        return Response(
            self.OutputSerializer(outcome).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )
