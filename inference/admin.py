from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html

from inference.archive import archived_table_csv, archived_table_drop
from inference.models import ArchivedInferenceTable


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

    def has_change_permission(self, request: HttpRequest, obj: ArchivedInferenceTable | None = None) -> bool:
        return False

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
        if not self.has_view_permission(request):
            raise PermissionDenied
        archived = get_object_or_404(ArchivedInferenceTable, pk=object_id)
        response = StreamingHttpResponse(
            archived_table_csv(archived=archived), content_type="text/csv; charset=utf-8"
        )
        response["Content-Disposition"] = f'attachment; filename="{archived.table_name}.csv"'
        return response

    def get_actions(self, request: HttpRequest) -> dict:
        actions = super().get_actions(request)
        if "delete_selected" in actions:
            func, name, _ = actions["delete_selected"]
            actions["delete_selected"] = (func, name, "Drop selected archived tables (their rows are deleted)")
        return actions

    # Deleting the record drops its table: Django's confirmation page asks first.
    def delete_model(self, request: HttpRequest, obj: ArchivedInferenceTable) -> None:
        archived_table_drop(archived=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[ArchivedInferenceTable]) -> None:
        for archived in queryset:
            archived_table_drop(archived=archived)
