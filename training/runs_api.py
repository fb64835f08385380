"""The runs API: /api/v1/runs/ over the same table as /api/v1/training/jobs/ (every
fine-tuning job is a train run). Start a recipe's train / eval / backtest run, read one
with its metrics, gate, folds, artifacts and log (deploying what a train run registered:
hub/deploy_views.py).
"""

from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import Pagination, valid
from recipes import selectors as recipe_selectors
from registry.models import ModelVersion
from training import selectors, services
from training.api import API_EVENTS
from training.filters import RunFilterSet
from training.models import Dataset, FineTuneJob, RunKind

VIEW_RUN = "training.view_finetunejob"


def _version_ref(version: ModelVersion | None) -> dict | None:
    if version is None:
        return None
    return {
        "id": version.pk,
        "model": version.model.slug,
        "version": version.version,
        "status": version.status,
    }


class RunOutput(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.CharField(source="get_absolute_url")
    kind = serializers.CharField()
    status = serializers.CharField()
    progress = serializers.IntegerField()
    stage = serializers.CharField()
    error = serializers.CharField()
    recipe = serializers.SerializerMethodField()
    dataset = serializers.SerializerMethodField()
    hyperparameters = serializers.DictField()
    metrics = serializers.SerializerMethodField()
    gate = serializers.SerializerMethodField()
    result_version = serializers.SerializerMethodField()
    evaluated_version = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    duration_seconds = serializers.SerializerMethodField()

    class Meta:
        ref_name = "Run"

    def get_recipe(self, job: FineTuneJob) -> dict | None:
        version = job.recipe_version
        if version is None:
            return None
        return {
            "slug": version.recipe.slug,
            "version": version.version,
            "status": version.status,
            "content_hash": version.content_hash,
        }

    def get_dataset(self, job: FineTuneJob) -> dict | None:
        if job.snapshot is None:
            return None
        return {
            "id": job.dataset_id,
            "name": job.dataset.name,
            "source": job.dataset.source,
            "rows": job.snapshot.row_count,
            "sha256": job.snapshot.sha256,
        }

    def get_metrics(self, job: FineTuneJob) -> dict:
        return job.results.get("metrics", {})

    def get_gate(self, job: FineTuneJob) -> dict | None:
        return job.results.get("gate")

    def get_result_version(self, job: FineTuneJob) -> dict | None:
        return _version_ref(job.result_version)

    def get_evaluated_version(self, job: FineTuneJob) -> dict | None:
        return _version_ref(job.evaluated_version)

    def get_duration_seconds(self, job: FineTuneJob) -> float | None:
        if job.started_at is None or job.finished_at is None:
            return None
        return round((job.finished_at - job.started_at).total_seconds(), 3)


class RunDetailOutput(RunOutput):
    folds = serializers.SerializerMethodField()
    charts = serializers.SerializerMethodField()
    artifacts = serializers.SerializerMethodField()
    logs = serializers.SerializerMethodField()

    class Meta:
        ref_name = "RunDetail"

    def get_folds(self, job: FineTuneJob) -> list:
        return job.results.get("folds", [])

    def get_charts(self, job: FineTuneJob) -> dict:
        return job.results.get("charts", {})

    def get_artifacts(self, job: FineTuneJob) -> list[dict]:
        out = []
        if job.snapshot is not None:
            out.append(
                {
                    "kind": "dataset_snapshot",
                    "name": job.snapshot.file.name,
                    "sha256": job.snapshot.sha256,
                    "rows": job.snapshot.row_count,
                }
            )
        version = job.result_version
        if version is not None and version.artifact:
            out.append(
                {
                    "kind": "model",
                    "name": version.artifact.name,
                    "sha256": version.artifact_sha256,
                    "version": _version_ref(version),
                }
            )
        return out

    def get_logs(self, job: FineTuneJob) -> list[dict]:
        latest = list(job.events.order_by("-created_at", "-id")[:API_EVENTS])
        return [
            {
                "created_at": e.created_at.isoformat(),
                "level": e.level,
                "stage": e.stage,
                "progress": e.progress,
                "message": e.message,
            }
            for e in reversed(latest)
        ]


class RunDatasetInput(serializers.Serializer):
    id = serializers.IntegerField(
        required=False, help_text="An existing dataset (its latest snapshot)."
    )
    rows = serializers.IntegerField(required=False, min_value=100, max_value=50_000)
    seed = serializers.IntegerField(required=False, min_value=0)

    class Meta:
        ref_name = "RunDataset"


class RunCreateInput(serializers.Serializer):
    recipe = serializers.SlugField()
    version = serializers.CharField(max_length=32)
    kind = serializers.ChoiceField(choices=RunKind.choices)
    dataset = RunDatasetInput(
        required=False,
        help_text="Omitted: the recipe's synthetic example; {rows, seed} to vary it; {id} for a dataset.",
    )
    model_version = serializers.IntegerField(
        required=False, help_text="Eval: the version id to score (default: the recipe's latest)."
    )

    class Meta:
        ref_name = "RunCreate"


def _run_dataset(request: Request, data: dict | None) -> services.RunDataset:
    data = data or {}
    dataset = None
    if data.get("id") is not None:
        dataset = Dataset.objects.filter(pk=data["id"]).first()
        if dataset is None:
            raise services.TrainingValidationError({"dataset.id": ["No such dataset."]})
    return services.RunDataset(dataset=dataset, rows=data.get("rows"), seed=data.get("seed"))


class RunListCreateApi(APIView):
    """GET: runs the caller may read (RunFilterSet), newest first. POST: start a recipe run."""

    parser_classes = [JSONParser]
    perms = {"GET": VIEW_RUN, "POST": "training.add_finetunejob"}
    filter_backends = [DjangoFilterBackend]
    filterset_class = RunFilterSet
    pagination_class = Pagination
    queryset = FineTuneJob.objects.none()

    @extend_schema(operation_id="runs_list", responses=RunOutput(many=True))
    def get(self, request: Request) -> Response:
        runs = RunFilterSet(request.query_params, queryset=selectors.jobs(user=request.user))
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(runs.filtered(), request, view=self)
        return paginator.get_paginated_response(RunOutput(page, many=True).data)

    @extend_schema(
        operation_id="runs_create", request=RunCreateInput, responses={201: RunDetailOutput}
    )
    def post(self, request: Request) -> Response:
        data = valid(RunCreateInput(data=request.data))
        recipe = recipe_selectors.recipe_get(slug=data["recipe"], user=request.user)
        version = recipe_selectors.version_get(
            recipe=recipe, version=data["version"], user=request.user
        )
        evaluated = None
        if data.get("model_version") is not None:
            evaluated = ModelVersion.objects.filter(pk=data["model_version"]).first()
            if evaluated is None:
                raise services.TrainingValidationError({"model_version": ["No such version."]})
        job = services.run_create(
            recipe_version=version,
            kind=data["kind"],
            dataset=_run_dataset(request, data.get("dataset")),
            evaluated_version=evaluated,
            actor=request.user,
        )
        body = RunDetailOutput(selectors.job_get(pk=job.pk, user=request.user)).data
        return Response(body, status=status.HTTP_201_CREATED)


class RunDetailApi(APIView):
    perms = {"GET": VIEW_RUN}

    @extend_schema(operation_id="runs_retrieve", responses=RunDetailOutput)
    def get(self, request: Request, pk: int) -> Response:
        return Response(RunDetailOutput(selectors.job_get(pk=pk, user=request.user)).data)
