from django.contrib import admin, messages
from django.core.files.storage import default_storage
from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import FileResponse, Http404, HttpRequest, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html

from core.permissions import require
from inference.archive import archived_table_csv, archived_table_drop
from inference.models import (
    ArchivedInferenceTable,
    ArchivedLogPartition,
    LogRetention,
    RollupDirtyHour,
    RollupState,
)
from inference.retention import archived_partition_delete
from inference.rollup import rollup_reset

VIEW_ARCHIVED = "inference.view_archivedinferencetable"
DELETE_ARCHIVED = "inference.delete_archivedinferencetable"


@admin.register(ArchivedInferenceTable)
class ArchivedInferenceTableAdmin(admin.ModelAdmin):
    """A deleted group's log: browse, export as CSV (streamed), drop ("delete" drops the table)."""

    list_display = ["table_name", "group_name", "row_count", "archived_at", "export_link"]
    search_fields = ["table_name", "group_name", "group_slug"]
    date_hierarchy = "archived_at"
    readonly_fields = [
        "table_name",
        "original_table_name",
        "group_name",
        "group_slug",
        "row_count",
        "archived_at",
        "export_link",
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # archives are made by deleting a group, never by hand

    def has_change_permission(
        self, request: HttpRequest, obj: ArchivedInferenceTable | None = None
    ) -> bool:
        return False

    # Viewing and exporting: every role reads them; dropping: Admins only (core/roles.py).
    def has_view_permission(
        self, request: HttpRequest, obj: ArchivedInferenceTable | None = None
    ) -> bool:
        return request.user.has_perm(VIEW_ARCHIVED, obj)

    def has_delete_permission(
        self, request: HttpRequest, obj: ArchivedInferenceTable | None = None
    ) -> bool:
        return request.user.has_perm(DELETE_ARCHIVED, obj)

    @admin.display(description="Export")
    def export_link(self, obj: ArchivedInferenceTable) -> str:
        url = reverse("admin:inference_archivedinferencetable_export", args=[obj.pk])
        return format_html('<a href="{}">Download CSV</a>', url)

    def get_urls(self) -> list:
        export = path(
            "<int:object_id>/export/",
            self.admin_site.admin_view(self.export_view),
            name="inference_archivedinferencetable_export",
        )
        return [export, *super().get_urls()]

    def export_view(self, request: HttpRequest, object_id: int) -> StreamingHttpResponse:
        archived = get_object_or_404(ArchivedInferenceTable, pk=object_id)
        require(request.user, VIEW_ARCHIVED, archived)
        response = StreamingHttpResponse(
            archived_table_csv(archived=archived), content_type="text/csv; charset=utf-8"
        )
        response["Content-Disposition"] = f'attachment; filename="{archived.table_name}.csv"'
        return response

    def get_actions(self, request: HttpRequest) -> dict:
        actions = super().get_actions(request)
        if "delete_selected" in actions:
            func, name, _ = actions["delete_selected"]
            actions["delete_selected"] = (
                func,
                name,
                "Drop selected archived tables (their rows are deleted)",
            )
        return actions

    # Deleting the record drops its table: Django's confirmation page asks first.
    def delete_model(self, request: HttpRequest, obj: ArchivedInferenceTable) -> None:
        require(request.user, DELETE_ARCHIVED, obj)
        archived_table_drop(archived=obj)

    def delete_queryset(
        self, request: HttpRequest, queryset: QuerySet[ArchivedInferenceTable]
    ) -> None:
        archives = list(queryset)
        for archived in archives:  # every one allowed before any is dropped
            require(request.user, DELETE_ARCHIVED, archived)
        for archived in archives:
            archived_table_drop(archived=archived)


@admin.register(RollupState)
class RollupStateAdmin(admin.ModelAdmin):
    """How far each group's log is rolled up for the comparison (beat refreshes every
    minute). Rows loaded into or removed from a log behind the application's back need a
    rebuild; the comparison stays exact meanwhile, read from the log."""

    list_display = ["group", "rolled_until", "refreshed_at", "dirty_hours"]
    list_select_related = ["group"]
    search_fields = ["group__name", "group__slug"]
    readonly_fields = ["group", "rolled_until", "refreshed_at"]
    actions = ["rebuild"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[RollupState]:
        dirty = (
            RollupDirtyHour.objects.filter(group_id=OuterRef("group_id"))
            .values("group_id")
            .annotate(n=Count("id"))
            .values("n")
        )
        return (
            super()
            .get_queryset(request)
            .annotate(dirty=Coalesce(Subquery(dirty, output_field=IntegerField()), 0))
        )

    @admin.display(description="Dirty hours", ordering="dirty")
    def dirty_hours(self, obj: RollupState) -> int:
        return obj.dirty

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # beat makes them

    def has_view_permission(self, request: HttpRequest, obj: RollupState | None = None) -> bool:
        return request.user.has_perm("inference.view_rollupstate", obj)

    def has_change_permission(self, request: HttpRequest, obj: RollupState | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: RollupState | None = None) -> bool:
        return False  # the rebuild action forgets a group's roll-ups whole

    def has_rebuild_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("inference.change_rollupstate")

    @admin.action(
        description="Rebuild the roll-ups from the whole log (on the next beat)",
        permissions=["rebuild"],
    )
    def rebuild(self, request: HttpRequest, queryset: QuerySet[RollupState]) -> None:
        states = list(queryset.select_related("group"))
        for state in states:
            require(request.user, "inference.change_rollupstate", state)
        for state in states:
            rollup_reset(group=state.group)
        self.message_user(
            request,
            f"Roll-ups of {len(states)} group(s) forgotten: beat builds them again within a minute.",
            messages.SUCCESS,
        )


@admin.register(LogRetention)
class LogRetentionAdmin(admin.ModelAdmin):
    """Each group's log retention (PostgreSQL): months kept, then archive or drop (beat)."""

    list_display = ["group", "keep_months", "action", "updated_at"]
    list_select_related = ["group"]
    list_filter = ["action"]
    search_fields = ["group__name", "group__slug"]
    autocomplete_fields = ["group"]

    def has_view_permission(self, request: HttpRequest, obj: LogRetention | None = None) -> bool:
        return request.user.has_perm("inference.view_logretention", obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("inference.add_logretention")

    def has_change_permission(self, request: HttpRequest, obj: LogRetention | None = None) -> bool:
        return request.user.has_perm("inference.change_logretention", obj)

    def has_delete_permission(self, request: HttpRequest, obj: LogRetention | None = None) -> bool:
        return request.user.has_perm("inference.delete_logretention", obj)


VIEW_ARCHIVED_PARTITION = "inference.view_archivedlogpartition"
DELETE_ARCHIVED_PARTITION = "inference.delete_archivedlogpartition"


@admin.register(ArchivedLogPartition)
class ArchivedLogPartitionAdmin(admin.ModelAdmin):
    """Months of logs archived by retention: browse, download the Parquet file, delete."""

    list_display = [
        "table_name",
        "month",
        "group_name",
        "row_count",
        "file_bytes",
        "freed_bytes",
        "archived_at",
        "download_link",
    ]
    search_fields = ["table_name", "group_name", "group_slug"]
    date_hierarchy = "month"
    readonly_fields = [
        "table_name",
        "partition_name",
        "month",
        "group_name",
        "group_slug",
        "row_count",
        "file_bytes",
        "freed_bytes",
        "archived_at",
        "download_link",
    ]
    exclude = ["group", "file"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # made by retention, never by hand

    def has_change_permission(
        self, request: HttpRequest, obj: ArchivedLogPartition | None = None
    ) -> bool:
        return False

    def has_view_permission(
        self, request: HttpRequest, obj: ArchivedLogPartition | None = None
    ) -> bool:
        return request.user.has_perm(VIEW_ARCHIVED_PARTITION, obj)

    def has_delete_permission(
        self, request: HttpRequest, obj: ArchivedLogPartition | None = None
    ) -> bool:
        return request.user.has_perm(DELETE_ARCHIVED_PARTITION, obj)

    @admin.display(description="Download")
    def download_link(self, obj: ArchivedLogPartition) -> str:
        url = reverse("admin:inference_archivedlogpartition_download", args=[obj.pk])
        return format_html('<a href="{}">Download Parquet</a>', url)

    def get_urls(self) -> list:
        download = path(
            "<int:object_id>/download/",
            self.admin_site.admin_view(self.download_view),
            name="inference_archivedlogpartition_download",
        )
        return [download, *super().get_urls()]

    def download_view(self, request: HttpRequest, object_id: int) -> FileResponse:
        archived = get_object_or_404(ArchivedLogPartition, pk=object_id)
        require(request.user, VIEW_ARCHIVED_PARTITION, archived)
        if not archived.file or not default_storage.exists(archived.file.name):
            raise Http404("The archive file is missing.")
        return FileResponse(
            default_storage.open(archived.file.name, "rb"),
            as_attachment=True,
            filename=f"{archived.partition_name}.parquet",
            content_type="application/vnd.apache.parquet",
        )

    def delete_model(self, request: HttpRequest, obj: ArchivedLogPartition) -> None:
        require(request.user, DELETE_ARCHIVED_PARTITION, obj)
        archived_partition_delete(archived=obj)

    def delete_queryset(
        self, request: HttpRequest, queryset: QuerySet[ArchivedLogPartition]
    ) -> None:
        archives = list(queryset)
        for archived in archives:
            require(request.user, DELETE_ARCHIVED_PARTITION, archived)
        for archived in archives:
            archived_partition_delete(archived=archived)


# Batch jobs: their admin lives with the rest of batch prediction.
from inference import batch_admin  # noqa: E402, F401
