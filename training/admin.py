from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest

from core.errors import ServiceError
from core.permissions import require, visible
from training import services
from training.models import Dataset, DatasetSnapshot, FineTuneJob, JobEvent


class TeamOwnedAdmin(admin.ModelAdmin):
    """Permissions through rules (role + owning team), the changelist through `visible`."""

    team_field = "team"
    perm_model = ""  # the model whose permissions apply, when not this one's

    def _perm(self, action: str) -> str:
        return f"{self.opts.app_label}.{action}_{self.perm_model or self.opts.model_name}"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return visible(request.user, super().get_queryset(request), team_field=self.team_field)

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.has_perm(self._perm("view"), obj) or self.has_change_permission(
            request, obj
        )

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.has_perm(self._perm("add"))

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.has_perm(self._perm("change"), obj)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.has_perm(self._perm("delete"), obj)


class JobEventInline(admin.TabularInline):
    model = JobEvent
    extra = 0
    can_delete = False
    fields = ("created_at", "level", "stage", "progress", "message", "metrics")
    readonly_fields = fields
    ordering = ("-created_at", "-id")
    max_num = 0  # the event log is written by the job, never by hand

    def has_add_permission(self, request: HttpRequest, obj: FineTuneJob | None = None) -> bool:
        return False


@admin.register(FineTuneJob)
class FineTuneJobAdmin(TeamOwnedAdmin):
    list_display = (
        "id",
        "status",
        "progress",
        "stage",
        "base_kind",
        "base_label",
        "model",
        "result_version",
        "created_by",
        "created_at",
    )
    list_filter = ("kind", "status", "base_kind", "preset", "created_at")
    search_fields = ("id", "stage", "error", "external_job_id", "model__name", "dataset__name")
    list_select_related = ("model", "base_version__model", "result_version__model", "created_by")
    date_hierarchy = "created_at"
    actions = ("cancel_jobs", "retry_jobs")
    inlines = [JobEventInline]
    readonly_fields = (
        "kind",
        "recipe_version",
        "evaluated_version",
        "results",
        "status",
        "progress",
        "stage",
        "error",
        "base_kind",
        "preset",
        "base_version",
        "model",
        "dataset",
        "snapshot",
        "hyperparameters",
        "result_version",
        "retry_of",
        "heartbeat_at",
        "cancel_requested_at",
        "external_file_id",
        "external_job_id",
        "external_status",
        "created_by",
        "created_at",
        "started_at",
        "finished_at",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # jobs start from the "New fine-tuning job" page, the API or train_start

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # a job is a record of what was trained; it is cancelled, never deleted

    @admin.action(description="Cancel the selected jobs", permissions=["change"])
    def cancel_jobs(self, request: HttpRequest, queryset: QuerySet[FineTuneJob]) -> None:
        self._each(
            request,
            queryset,
            lambda job: services.job_cancel(job=job, actor=request.user),
            "cancelled",
        )

    @admin.action(
        description="Retry the selected jobs (as new jobs on the same data)", permissions=["change"]
    )
    def retry_jobs(self, request: HttpRequest, queryset: QuerySet[FineTuneJob]) -> None:
        self._each(
            request,
            queryset,
            lambda job: services.job_retry(job=job, actor=request.user),
            "retried",
        )

    def _each(
        self, request: HttpRequest, queryset: QuerySet[FineTuneJob], action, verb: str
    ) -> None:
        done = 0
        for job in queryset:
            try:
                require(request.user, "training.change_finetunejob", job)
                action(job)
            except (ServiceError, PermissionDenied) as error:
                self.message_user(request, f"Job {job.pk}: {error}", level=messages.WARNING)
            else:
                done += 1
        if done:
            self.message_user(request, f"{done} job(s) {verb}.", level=messages.SUCCESS)


@admin.register(Dataset)
class DatasetAdmin(TeamOwnedAdmin):
    list_display = ("name", "source", "group", "label_column", "created_by", "created_at")
    list_filter = ("source", "created_at")
    search_fields = ("name",)
    readonly_fields = ("created_at",)


@admin.register(DatasetSnapshot)
class DatasetSnapshotAdmin(TeamOwnedAdmin):
    # A snapshot is part of its dataset: the dataset's permissions and team apply.
    team_field = "dataset__team"
    perm_model = "dataset"
    list_display = ("id", "dataset", "row_count", "sha256", "created_at")
    search_fields = ("sha256", "dataset__name")
    readonly_fields = (
        "dataset",
        "file",
        "row_count",
        "columns",
        "features",
        "label_column",
        "sha256",
        "created_at",
    )
