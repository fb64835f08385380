"""Batch jobs in the operations console: every job ops staff may see, filtered by status,
format and group, read-only, with a cancel action (the service, one permission check per
job). Registered by inference/admin.py."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from core.errors import ServiceError
from core.permissions import visible
from inference.batch import services
from inference.batch_api import CHANGE_PERM, VIEW_PERM
from inference.models import BatchJob


@admin.register(BatchJob)
class BatchJobAdmin(admin.ModelAdmin):
    list_display = [
        "file_name",
        "group",
        "model_version",
        "status",
        "rows_done",
        "rows_total",
        "rows_failed",
        "created_at",
        "finished_at",
    ]
    list_filter = ["status", "input_format", "output_format", "group", "created_at"]
    search_fields = ["id", "file_name", "group__slug", "group__name"]
    date_hierarchy = "created_at"
    list_select_related = ["group", "model_version__model"]
    actions = ["cancel_jobs"]
    readonly_fields = ["page_link"]
    exclude = ["members", "features", "columns"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        queryset = super().get_queryset(request)
        return visible(request.user, queryset, team_field="team", group_field="group__slug")

    def get_readonly_fields(self, request: HttpRequest, obj: BatchJob | None = None) -> list[str]:
        # A job is changed only by its workers and the cancel action: every field read-only.
        fields = [f.name for f in BatchJob._meta.fields if f.name not in self.exclude]
        return [*fields, "page_link"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # jobs start from a group's page, the API or the command

    def has_change_permission(self, request: HttpRequest, obj: BatchJob | None = None) -> bool:
        return False  # read-only detail; cancelling is the action's

    def has_delete_permission(self, request: HttpRequest, obj: BatchJob | None = None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj: BatchJob | None = None) -> bool:
        return request.user.has_perm(VIEW_PERM, obj)

    def has_cancel_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(CHANGE_PERM)

    @admin.display(description="Progress page")
    def page_link(self, obj: BatchJob) -> str:
        url = reverse("inference:batch_detail", args=[obj.pk])
        return format_html('<a href="{}">Open the progress page</a>', url)

    @admin.action(description="Cancel the selected batch jobs", permissions=["cancel"])
    def cancel_jobs(self, request: HttpRequest, queryset: QuerySet) -> None:
        cancelled, refused, finished = 0, 0, 0
        for job in queryset:
            if not request.user.has_perm(CHANGE_PERM, job):
                refused += 1
                continue
            try:
                services.batch_cancel(job=job)
            except ServiceError:
                finished += 1  # finished (or cancelled) before the action ran
            else:
                cancelled += 1
        self.message_user(request, f"{cancelled} batch job(s) cancelled.", messages.SUCCESS)
        if refused:
            self.message_user(
                request,
                f"{refused} job(s) not cancelled: you may not cancel another team's jobs.",
                messages.ERROR,
            )
        if finished:
            self.message_user(request, f"{finished} job(s) had already finished.", messages.WARNING)
