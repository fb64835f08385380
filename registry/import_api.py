"""POST /api/v1/models/import (the preview, with a token) and POST /api/v1/models/import/confirm."""

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import valid
from core.errors import ServiceError
from registry.importing import (
    MAX_DOCUMENT_BYTES,
    ImportOptions,
    ImportRefused,
    ImportSource,
    as_data,
    import_confirm,
    import_preview,
    json_parse,
    size_check,
)
from registry.models import Task

PERMS = {"POST": "registry.add_modelversion"}


class ImportJSONParser(JSONParser):
    """DRF's JSON parser, with the importer's limits: a body nested ten thousand levels deep
    or larger than the limit is a clear 400, not a RecursionError."""

    def parse(
        self, stream: Any, media_type: str | None = None, parser_context: dict | None = None
    ) -> Any:
        body = stream.read(MAX_DOCUMENT_BYTES + 1) if stream is not None else b""
        if len(body) > MAX_DOCUMENT_BYTES:
            raise ParseError(
                f"The request is larger than the {MAX_DOCUMENT_BYTES // 1024 // 1024} MB limit."
            )
        try:
            return json_parse(body)
        except ImportRefused as exc:
            raise ParseError(exc.message) from None


class _Options(serializers.Serializer):
    model_name = serializers.CharField(
        required=False, allow_blank=True, max_length=200, help_text="Default: the document's name."
    )
    task = serializers.ChoiceField(choices=Task.choices, required=False, allow_blank=True)
    version = serializers.CharField(required=False, allow_blank=True, max_length=32)
    team = serializers.SlugField(
        required=False,
        allow_blank=True,
        help_text="The team that owns new models; default: your only team (an API key: its team).",
    )


class ModelImportDocumentInput(_Options):
    document = serializers.JSONField(
        required=False, help_text="The document: a JSON object or an array of them (or its text)."
    )


class ModelImportFilesInput(_Options):
    files = serializers.ListField(
        child=serializers.FileField(), required=False, help_text="One or more JSON files, a batch."
    )


class ImportItemSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    label = serializers.CharField()
    status = serializers.ChoiceField(choices=["ready", "invalid", "refused"])
    message = serializers.CharField()
    method = serializers.CharField(allow_blank=True)
    identity = serializers.DictField(allow_null=True)
    document = serializers.DictField(allow_null=True)
    issues = serializers.ListField(child=serializers.DictField())
    missing = serializers.ListField(child=serializers.CharField())
    moves = serializers.ListField(child=serializers.DictField())
    dropped = serializers.ListField(child=serializers.DictField())
    notes = serializers.ListField(child=serializers.CharField())


def _bare(request: Request) -> bool:
    """The document itself is the body (`curl --data @model.json`), options in the query."""
    data = request.data
    return (
        not request.FILES
        and request.content_type.startswith("application/json")
        and (not isinstance(data, dict) or (bool(data) and "document" not in data))
    )


def _sources(request: Request, bare: bool) -> list[ImportSource]:
    data = request.data
    sources = []
    if bare:
        sources.append(ImportSource("document", document=data))
    elif "document" in data:
        document = data.get("document")
        sources.append(
            ImportSource("document", text=document)
            if isinstance(document, str)
            else ImportSource("document", document=document)
        )
    for upload in request.FILES.getlist("file") + request.FILES.getlist("files"):
        size_check(upload.size, label=upload.name, field="files")  # before a byte is read
        sources.append(ImportSource(upload.name, text=upload.read()))
    return sources


class ModelImportApi(APIView):
    """Map a document (or a JSON array of them, or uploaded files) onto the metadata schema.
    Nothing is saved: the answer is a preview with a token for the confirm call."""

    perms = PERMS
    parser_classes = [ImportJSONParser, MultiPartParser]

    class OutputSerializer(serializers.Serializer):
        token = serializers.CharField(allow_null=True)
        expires_at = serializers.CharField(allow_null=True)
        ready_count = serializers.IntegerField()
        refused_count = serializers.IntegerField()
        items = ImportItemSerializer(many=True)

    @extend_schema(
        request={
            "application/json": ModelImportDocumentInput,
            "multipart/form-data": ModelImportFilesInput,
        },
        parameters=[
            OpenApiParameter(
                "model_name", str, description="When the JSON body is the document itself."
            ),
            OpenApiParameter(
                "task",
                str,
                enum=Task.values,
                description="When the JSON body is the document itself.",
            ),
            OpenApiParameter(
                "version", str, description="When the JSON body is the document itself."
            ),
            OpenApiParameter("team", str, description="When the JSON body is the document itself."),
        ],
        responses={200: OutputSerializer},
        operation_id="model_import_preview",
        summary="Preview an import: map a document (JSON) or files (multipart) onto the metadata schema",
        description=(
            'Either a JSON envelope `{"document": ..., "model_name": ...}`, the document itself '
            "as the JSON body (options in the query string), or multipart `files`. Nothing is saved; "
            "a 400 lists what is missing when no document can be imported."
        ),
    )
    def post(self, request: Request) -> Response:
        bare = _bare(request)
        options = valid(
            ModelImportDocumentInput(data=request.query_params if bare else request.data)
        )
        preview = import_preview(
            sources=_sources(request, bare),
            options=ImportOptions(
                model_name=options.get("model_name", ""),
                task=options.get("task", ""),
                version=options.get("version", ""),
                team=options.get("team", ""),
            ),
            user=request.user,
        )
        if not preview.ready_count:
            raise ServiceError(
                "Nothing in this upload can be imported; nothing was saved.",
                {
                    item.label: [item.message, *(f"{i.path}: {i.message}" for i in item.issues)]
                    for item in preview.items
                },
            )
        return Response(self.OutputSerializer(as_data(preview)).data)


class ModelImportConfirmApi(APIView):
    """Save the ready items of a preview. Confirming a token twice saves nothing the second time."""

    perms = PERMS

    class InputSerializer(serializers.Serializer):
        token = serializers.CharField(max_length=100, min_length=1)

    class OutputSerializer(serializers.Serializer):
        saved_count = serializers.IntegerField()
        refused_count = serializers.IntegerField()
        already_confirmed = serializers.BooleanField()
        items = serializers.ListField(child=serializers.DictField())

    @extend_schema(
        request=InputSerializer,
        responses={201: OutputSerializer, 200: OutputSerializer},
        operation_id="model_import_confirm",
        summary="Confirm an import preview: save its ready versions",
    )
    def post(self, request: Request) -> Response:
        token = valid(self.InputSerializer(data=request.data))["token"]
        outcome = import_confirm(token=token, user=request.user)
        created = outcome.saved_count and not outcome.already_confirmed
        return Response(
            self.OutputSerializer(as_data(outcome)).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )
