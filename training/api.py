"""The training API: start jobs, list and read them (with their events), cancel them.

Serializers check shapes; training.services checks the rest. Its errors are ServiceErrors
rendered by core.api.exception_handler as {"message", "errors": {field: [...]}}.
Who may do what: each view's `perms` (core.permissions.HubPermission), then an object
check (`require`) on the job.
"""

import json

from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import Pagination, SlugRelatedField, valid
from core.permissions import require
from groups.models import ModelGroup, Role
from registry.models import ModelVersion, RegisteredModel
from training import selectors, services
from training.filters import JobFilterSet
from training.models import JOB_SOURCES, FineTuneJob, Preset

API_EVENTS = 200


class JobOutput(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.SerializerMethodField()
    status = serializers.CharField()
    progress = serializers.IntegerField()
    stage = serializers.CharField()
    error = serializers.CharField()
    base_kind = serializers.CharField()
    preset = serializers.CharField()
    base_version = serializers.IntegerField(source="base_version_id", allow_null=True)
    model = serializers.SerializerMethodField()
    dataset = serializers.SerializerMethodField()
    hyperparameters = serializers.DictField()
    result_version = serializers.SerializerMethodField()
    retry_of = serializers.IntegerField(source="retry_of_id", allow_null=True)
    external_job_id = serializers.CharField()
    external_status = serializers.CharField()
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)

    def get_url(self, job: FineTuneJob) -> str:
        request = self.context.get("request")
        return (
            request.build_absolute_uri(job.get_absolute_url())
            if request
            else job.get_absolute_url()
        )

    def get_model(self, job: FineTuneJob) -> str | None:
        return job.model.slug if job.model else None

    def get_dataset(self, job: FineTuneJob) -> dict | None:
        if job.snapshot is None:
            return None
        snapshot = job.snapshot
        return {
            "name": job.dataset.name,
            "source": job.dataset.source,
            "rows": snapshot.row_count,
            "columns": snapshot.columns,
            "sha256": snapshot.sha256,
        }

    def get_result_version(self, job: FineTuneJob) -> dict | None:
        version = job.result_version
        if version is None:
            return None
        return {
            "id": version.pk,
            "model": version.model.slug,
            "version": version.version,
            "status": version.status,
        }


class JobDetailOutput(JobOutput):
    events = serializers.SerializerMethodField()

    def get_events(self, job: FineTuneJob) -> list[dict]:
        latest = list(job.events.order_by("-created_at", "-id")[:API_EVENTS])
        return [
            {
                "created_at": e.created_at.isoformat(),
                "level": e.level,
                "stage": e.stage,
                "progress": e.progress,
                "message": e.message,
                "metrics": e.metrics,
            }
            for e in reversed(latest)
        ]


def _job(request: Request, pk: int) -> FineTuneJob:
    return selectors.job_get(pk=pk, user=request.user)


class JobCreateInput(serializers.Serializer):
    preset = serializers.ChoiceField(
        choices=Preset.choices, required=False, allow_blank=True, default=""
    )
    base_version = serializers.PrimaryKeyRelatedField(
        queryset=ModelVersion.objects.select_related("model", "provider"),
        required=False,
        allow_null=True,
    )
    model = SlugRelatedField(
        slug_field="slug", queryset=RegisteredModel.objects.all(), required=False, allow_null=True
    )
    source = serializers.ChoiceField(choices=JOB_SOURCES)
    group = SlugRelatedField(
        slug_field="slug", queryset=ModelGroup.objects.all(), required=False, allow_null=True
    )
    window_start = serializers.DateTimeField(required=False, allow_null=True)
    window_end = serializers.DateTimeField(required=False, allow_null=True)
    role = serializers.ChoiceField(
        choices=Role.choices, required=False, allow_blank=True, default=""
    )
    model_version = serializers.IntegerField(
        required=False, allow_null=True, help_text="Only the predictions of this version id."
    )
    file = serializers.FileField(required=False, allow_null=True)
    label_column = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=100,
        help_text="The file's label column; empty: the base model's target.",
    )
    hyperparameters = serializers.JSONField(required=False, default=dict)

    class Meta:
        ref_name = "TrainingJobCreate"

    def validate_hyperparameters(self, value: object) -> dict:
        if isinstance(value, str):  # a multipart form sends them as a JSON string
            try:
                value = json.loads(value or "{}")
            except ValueError:
                raise serializers.ValidationError("Not valid JSON.") from None
        if not isinstance(value, dict):
            raise serializers.ValidationError('Send an object: {"n_estimators": 200, ...}.')
        return value


class JobListCreateApi(APIView):
    """GET: the jobs the caller may read, newest first, paginated and filtered (JobFilterSet).
    POST: start one (JSON, or multipart with `file` for an upload)."""

    perms = {"GET": "training.view_finetunejob", "POST": "training.add_finetunejob"}
    parser_classes = [JSONParser, MultiPartParser, FormParser]
    # Read by drf-spectacular: the filter parameters and the paginated page in the schema.
    filter_backends = [DjangoFilterBackend]
    filterset_class = JobFilterSet
    pagination_class = Pagination
    queryset = FineTuneJob.objects.none()

    @extend_schema(operation_id="training_jobs_list", responses=JobOutput(many=True))
    def get(self, request: Request) -> Response:
        jobs = JobFilterSet(request.query_params, queryset=selectors.jobs(user=request.user))
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(jobs.filtered(), request, view=self)
        return paginator.get_paginated_response(
            JobOutput(page, many=True, context={"request": request}).data
        )

    @extend_schema(
        operation_id="training_jobs_create",
        request={"application/json": JobCreateInput, "multipart/form-data": JobCreateInput},
        responses={201: JobDetailOutput},
    )
    def post(self, request: Request) -> Response:
        data = valid(JobCreateInput(data=request.data))
        job = services.job_create(
            preset=data["preset"],
            base_version=data.get("base_version"),
            model=data.get("model"),
            hyperparameters=data["hyperparameters"],
            dataset=services.DatasetSpec(
                source=data["source"],
                group=data.get("group"),
                window_start=data.get("window_start"),
                window_end=data.get("window_end"),
                role=data["role"],
                model_version_id=data.get("model_version"),
                upload=data.get("file"),
                label_column=data["label_column"],
            ),
            created_by=request.user,
        )
        body = JobDetailOutput(_job(request, job.pk), context={"request": request}).data
        return Response(body, status=status.HTTP_201_CREATED)


class JobDetailApi(APIView):
    perms = {"GET": "training.view_finetunejob"}

    @extend_schema(operation_id="training_jobs_retrieve", responses=JobDetailOutput)
    def get(self, request: Request, pk: int) -> Response:
        return Response(JobDetailOutput(_job(request, pk), context={"request": request}).data)


class JobCancelApi(APIView):
    """Queued: cancelled at once. Running locally: stops at its next stage (status stays
    running until then). On the provider: the provider's cancel is called."""

    perms = {"POST": "training.change_finetunejob"}

    @extend_schema(operation_id="training_jobs_cancel", request=None, responses=JobDetailOutput)
    def post(self, request: Request, pk: int) -> Response:
        job = _job(request, pk)
        require(request.user, "training.change_finetunejob", job)
        services.job_cancel(job=job, actor=request.user)
        return Response(JobDetailOutput(_job(request, pk), context={"request": request}).data)
