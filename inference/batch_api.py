"""The batch prediction API: start a job for a group or for one version (multipart
upload), read it (progress), cancel it, and stream its result. Starting and cancelling
need `inference.add_batchjob` / `inference.change_batchjob` (an Operator of the owning
team; an API key's `manage` scope), reading `inference.view_batchjob` (every role; `read`)."""

from __future__ import annotations

from typing import Any

import django_filters
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import Pagination, valid
from core.filters import HubFilterSet
from core.permissions import require, visible
from inference.access import group_for
from inference.batch import services
from inference.filters import filter_parameters
from inference.models import BatchFormat, BatchJob, BatchStatus
from registry.selectors import version_get

ADD_PERM = "inference.add_batchjob"
CHANGE_PERM = "inference.change_batchjob"
VIEW_PERM = "inference.view_batchjob"
_CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "jsonl": "application/x-ndjson",
    "parquet": "application/vnd.apache.parquet",
}


class BatchStartSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="CSV with a header, JSON Lines (.jsonl) or Parquet.")
    key_column = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=200,
        help_text="The column routed like a live request's routing_key.",
    )
    explain = serializers.BooleanField(required=False, default=True)
    log = serializers.BooleanField(required=False, default=True)
    output_format = serializers.ChoiceField(
        choices=BatchFormat.choices, required=False, allow_blank=True, default=""
    )
    keep_columns = serializers.CharField(
        required=False,
        allow_blank=True,
        default="all",
        help_text="all, none, or input column names separated by commas",
    )
    shadow_columns = serializers.BooleanField(required=False, default=False)

    def options(self) -> services.BatchOptions:
        data = self.validated_data
        return services.BatchOptions(
            key_column=data["key_column"].strip(),
            explain=data["explain"],
            log=data["log"],
            output_format=data["output_format"],
            keep_columns=services.keep_columns_parse(data["keep_columns"]),
            shadow_columns=data["shadow_columns"],
        )


class BatchJobSerializer(serializers.ModelSerializer):
    group = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    model_version = serializers.PrimaryKeyRelatedField(read_only=True)
    rows_per_second = serializers.SerializerMethodField()
    eta_seconds = serializers.SerializerMethodField()
    percent = serializers.SerializerMethodField()
    result_url = serializers.SerializerMethodField()

    class Meta:
        model = BatchJob
        fields = [
            "id", "group", "model_version", "status", "file_name", "input_format",
            "output_format", "key_column", "explain", "log", "keep_columns", "shadow_columns",
            "rows_total", "rows_done", "rows_ok", "rows_failed", "percent", "rows_per_second",
            "eta_seconds", "first_errors", "error", "created_at", "started_at", "finished_at",
            "result_url",
        ]  # fmt: skip

    def _progress(self, job: BatchJob) -> services.BatchProgress:
        return services.batch_progress(job)

    def get_rows_per_second(self, job: BatchJob) -> float | None:
        rate = self._progress(job).rows_per_second
        return None if rate is None else round(rate, 1)

    def get_eta_seconds(self, job: BatchJob) -> float | None:
        eta = self._progress(job).eta_seconds
        return None if eta is None else round(eta, 1)

    def get_percent(self, job: BatchJob) -> int:
        return self._progress(job).percent

    def get_result_url(self, job: BatchJob) -> str | None:
        if job.status != BatchStatus.SUCCEEDED:
            return None
        return f"/api/v1/batches/{job.pk}/result"


class BatchFilterSet(HubFilterSet):
    status = django_filters.ChoiceFilter(choices=BatchStatus.choices)
    group = django_filters.CharFilter(field_name="group__slug", help_text="a group's slug")

    class Meta:
        model = BatchJob
        fields = ["status", "group"]


def batch_jobs(user: Any):
    queryset = BatchJob.objects.select_related("group", "team")
    return visible(user, queryset, team_field="team", group_field="group__slug")


def batch_get(user: Any, pk: Any, perm: str) -> BatchJob:
    job = get_object_or_404(batch_jobs(user), pk=pk)
    require(user, perm, job)
    return job


def _created(job: BatchJob) -> Response:
    return Response(BatchJobSerializer(job).data, status=201)


def _start(operation_id: str) -> Any:
    return extend_schema(
        operation_id=operation_id,
        request={"multipart/form-data": BatchStartSerializer},
        responses={201: BatchJobSerializer},
    )


class GroupBatchesApi(APIView):
    perms = {"POST": ADD_PERM}
    parser_classes = [MultiPartParser, FormParser]

    @_start("group_batches_create")
    def post(self, request: Request, slug: str) -> Response:
        group = group_for(request.user, slug, ADD_PERM)
        serializer = BatchStartSerializer(data=request.data)
        valid(serializer)
        job = services.batch_create(
            upload=serializer.validated_data["file"],
            options=serializer.options(),
            group=group,
            user=request.user,
        )
        return _created(job)


class VersionBatchesApi(APIView):
    perms = {"POST": ADD_PERM}
    parser_classes = [MultiPartParser, FormParser]

    @_start("version_batches_create")
    def post(self, request: Request, slug: str, version: str) -> Response:
        model_version = version_get(request.user, slug, version)
        require(request.user, ADD_PERM, model_version)
        serializer = BatchStartSerializer(data=request.data)
        valid(serializer)
        job = services.batch_create(
            upload=serializer.validated_data["file"],
            options=serializer.options(),
            version=model_version,
            user=request.user,
        )
        return _created(job)


class BatchListApi(APIView):
    perms = {"GET": VIEW_PERM}
    pagination_class = Pagination  # the schema's page (and its parameters)
    filterset_class = BatchFilterSet  # read by the schema (hub/openapi.py)

    @extend_schema(
        operation_id="batches_list",
        parameters=filter_parameters(BatchFilterSet),
        responses={200: BatchJobSerializer(many=True)},
    )
    def get(self, request: Request) -> Response:
        jobs = BatchFilterSet(request.query_params, queryset=batch_jobs(request.user)).filtered()
        paginator = Pagination()
        page = paginator.paginate_queryset(jobs, request, view=self)
        return paginator.get_paginated_response(BatchJobSerializer(page, many=True).data)


class BatchApi(APIView):
    perms = {"GET": VIEW_PERM}

    @extend_schema(operation_id="batches_retrieve", responses={200: BatchJobSerializer})
    def get(self, request: Request, pk: str) -> Response:
        return Response(BatchJobSerializer(batch_get(request.user, pk, VIEW_PERM)).data)


class BatchCancelApi(APIView):
    perms = {"POST": CHANGE_PERM}

    @extend_schema(operation_id="batches_cancel", request=None, responses={200: BatchJobSerializer})
    def post(self, request: Request, pk: str) -> Response:
        job = services.batch_cancel(job=batch_get(request.user, pk, CHANGE_PERM))
        return Response(BatchJobSerializer(job).data)


def result_response(job: BatchJob) -> StreamingHttpResponse:
    response = StreamingHttpResponse(
        services.result_stream(job), content_type=_CONTENT_TYPES[job.output_format]
    )
    response["Content-Disposition"] = f'attachment; filename="{services.result_file_name(job)}"'
    return response


class BatchResultApi(APIView):
    perms = {"GET": VIEW_PERM}

    @extend_schema(
        operation_id="batches_result",
        responses={200: OpenApiResponse(OpenApiTypes.BINARY, "The result file.")},
    )
    def get(self, request: Request, pk: str) -> StreamingHttpResponse:
        return result_response(batch_get(request.user, pk, VIEW_PERM))
