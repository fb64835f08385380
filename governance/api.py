"""Governance API: the inventory (JSON, CSV, Excel), a group's history at a moment, a
version's validation report as a PDF, and the report's job.

Each view names the permission each method needs (`perms`, core.permissions.HubPermission)
and checks the object with `require`; errors reach the one handler (core.api)."""

from __future__ import annotations

import json

from django.http import FileResponse, HttpResponse, JsonResponse, StreamingHttpResponse
from django.urls import reverse
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import Conflict, ServiceError
from core.permissions import require
from governance.history import group_at, moment_parse
from governance.inventory import (
    InventoryFilterSet,
    inventory_csv,
    inventory_queryset,
    inventory_rows,
    inventory_xlsx,
)
from governance.models import ReportJob, ReportStatus
from governance.reports import report_build, report_pdf
from governance.selectors import group_get, report_job_get
from governance.services import report_is_large, report_job_start
from governance.views import XLSX, pdf_response
from registry.selectors import version_get

VIEW_MODEL = "registry.view_registeredmodel"
VIEW_VERSION = "registry.view_modelversion"
VIEW_HISTORY = "groups.view_rolechange"


class _FileRenderer(BaseRenderer):
    """A file's bytes as they are; an error body (a dict) as JSON."""

    charset = None

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if isinstance(data, bytes | str):
            return data
        return json.dumps(data).encode()


class CSVRenderer(_FileRenderer):
    media_type, format = "text/csv", "csv"


class XLSXRenderer(_FileRenderer):
    media_type, format = XLSX, "xlsx"


class PDFRenderer(_FileRenderer):
    media_type, format = "application/pdf", "pdf"


class InventoryRowSerializer(serializers.Serializer):
    """Documents one inventory row (InventoryRow.as_dict)."""

    name = serializers.CharField()
    slug = serializers.CharField()
    url = serializers.CharField()
    team = serializers.CharField()
    task = serializers.CharField()
    owner = serializers.CharField(allow_null=True)
    business_purpose = serializers.CharField()
    intended_use = serializers.CharField()
    known_limitations = serializers.CharField()
    risk_tier = serializers.CharField(allow_null=True)
    validator = serializers.CharField(allow_null=True)
    validation_status = serializers.CharField()
    validated_on = serializers.DateField(allow_null=True)
    next_review_on = serializers.DateField(allow_null=True)
    review_overdue = serializers.BooleanField()
    production_versions = serializers.ListField(child=serializers.CharField())
    groups = serializers.ListField(child=serializers.DictField())
    open_alerts = serializers.IntegerField()

    class Meta:
        ref_name = "InventoryRow"


class InventoryApi(GenericAPIView):
    perms = {"GET": VIEW_MODEL}
    renderer_classes = [JSONRenderer, CSVRenderer, XLSXRenderer]
    filter_backends = [DjangoFilterBackend]
    filterset_class = InventoryFilterSet
    serializer_class = InventoryRowSerializer

    def get_queryset(self):
        return inventory_queryset(self.request.user)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "format",
                str,
                enum=["json", "csv", "xlsx"],
                description="csv or xlsx: every matching model as a file (not paginated).",
            )
        ],
        responses={200: InventoryRowSerializer(many=True)},
        operation_id="inventory_list",
        summary="The model inventory, overdue reviews first (JSON, CSV or Excel)",
    )
    def get(self, request: Request) -> Response:
        models = InventoryFilterSet(
            request.query_params, queryset=self.get_queryset(), request=request
        ).filtered()
        fmt = request.accepted_renderer.format
        if fmt == "csv":
            response = StreamingHttpResponse(inventory_csv(models), content_type="text/csv")
            response["Content-Disposition"] = 'attachment; filename="model-inventory.csv"'
            return response
        if fmt == "xlsx":
            response = HttpResponse(inventory_xlsx(models), content_type=XLSX)
            response["Content-Disposition"] = 'attachment; filename="model-inventory.xlsx"'
            return response
        page = self.paginate_queryset(models)
        return self.get_paginated_response([row.as_dict() for row in inventory_rows(page)])


class GroupHistoryApi(APIView):
    perms = {"GET": VIEW_HISTORY}

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "at",
                # A date alone is accepted too: its end.
                {"anyOf": [{"type": "string", "format": f} for f in ("date-time", "date")]},
                description="The moment (ISO 8601; naive times are UTC; a date: its end). "
                "Default: now.",
            )
        ],
        responses={
            200: inline_serializer(
                "GroupMoment",
                {
                    "group": serializers.CharField(),
                    "at": serializers.DateTimeField(),
                    "existed": serializers.BooleanField(),
                    "as_of_change": serializers.DictField(allow_null=True),
                    "members": serializers.ListField(child=serializers.DictField()),
                    "comparison": serializers.DictField(allow_null=True),
                    "comparison_recorded_at": serializers.CharField(allow_null=True),
                    "comparison_change": serializers.DictField(allow_null=True),
                    "comparison_note": serializers.CharField(),
                },
            )
        },
        operation_id="group_history_at",
        summary="A group at a past moment: members (role, version, weight) and the comparison then",
    )
    def get(self, request: Request, slug: str) -> Response:
        group = group_get(request.user, slug)
        require(request.user, VIEW_HISTORY, group)
        raw = request.query_params.get("at")
        if raw is not None and not raw.strip():
            raise ServiceError({"at": ["Send an ISO time, or leave `at` out for now."]})
        at = moment_parse(raw)
        return Response(group_at(group, at).as_dict())


def _job_body(request: Request, job: ReportJob) -> dict:
    body = {
        "id": job.pk,
        "model": job.model_version.model.slug,
        "version": job.model_version.version,
        "status": job.status,
        "progress": job.progress,
        "step": job.step,
        "error": job.error,
        "created_at": job.created_at.isoformat(),
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        "pdf_url": None,
    }
    if job.status == ReportStatus.DONE:
        body["pdf_url"] = request.build_absolute_uri(reverse("api-report-job-pdf", args=[job.pk]))
    return body


_JOB = inline_serializer(
    "ReportJob",
    {
        "id": serializers.IntegerField(),
        "model": serializers.CharField(),
        "version": serializers.CharField(),
        "status": serializers.ChoiceField(choices=ReportStatus.choices),
        "progress": serializers.IntegerField(),
        "step": serializers.CharField(),
        "error": serializers.CharField(),
        "created_at": serializers.DateTimeField(),
        "finished_at": serializers.DateTimeField(allow_null=True),
        "pdf_url": serializers.CharField(allow_null=True),
    },
)


class VersionReportPdfApi(APIView):
    perms = {"GET": VIEW_VERSION}
    renderer_classes = [PDFRenderer, JSONRenderer]

    @extend_schema(
        responses={
            (200, "application/pdf"): OpenApiTypes.BINARY,
            (202, "application/json"): _JOB,
        },
        operation_id="version_report_pdf",
        summary="A version's validation report as a PDF (202 with a job when built on Celery)",
    )
    def get(self, request: Request, slug: str, version: str):
        found = version_get(request.user, slug, version)
        require(request.user, VIEW_VERSION, found)
        if report_is_large(found):
            job = report_job_start(version=found, user=request.user)
            # JSON whatever the Accept header asked for: there is no PDF yet.
            return JsonResponse(_job_body(request, job), status=status.HTTP_202_ACCEPTED)
        return pdf_response(report_pdf(report_build(version=found)), found)


class ReportJobApi(APIView):
    perms = {"GET": VIEW_VERSION}

    @extend_schema(
        responses={200: _JOB}, operation_id="report_job_retrieve", summary="A report job's progress"
    )
    def get(self, request: Request, job_id: int) -> Response:
        job = report_job_get(request.user, job_id)
        require(request.user, VIEW_VERSION, job.model_version)
        return Response(_job_body(request, job))


class ReportJobPdfApi(APIView):
    perms = {"GET": VIEW_VERSION}
    renderer_classes = [PDFRenderer, JSONRenderer]

    @extend_schema(
        responses={(200, "application/pdf"): OpenApiTypes.BINARY},
        operation_id="report_job_pdf",
        summary="The PDF a finished report job built",
    )
    def get(self, request: Request, job_id: int):
        job = report_job_get(request.user, job_id)
        require(request.user, VIEW_VERSION, job.model_version)
        if job.status != ReportStatus.DONE or not job.pdf:
            raise Conflict(f"The report is {job.get_status_display().lower()}, not ready.")
        name = f"{job.model_version.model.slug}-{job.model_version.version}-validation-report.pdf"
        return FileResponse(job.pdf.open("rb"), as_attachment=True, filename=name)
