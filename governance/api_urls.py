from django.urls import path

from governance import api

urlpatterns: list = [
    path("inventory/", api.InventoryApi.as_view(), name="api-inventory"),
    path("groups/<slug:slug>/history", api.GroupHistoryApi.as_view(), name="api-group-history"),
    path(
        "models/<slug:slug>/versions/<str:version>/report.pdf",
        api.VersionReportPdfApi.as_view(),
        name="api-version-report-pdf",
    ),
    path("report-jobs/<int:job_id>", api.ReportJobApi.as_view(), name="api-report-job"),
    path("report-jobs/<int:job_id>/pdf", api.ReportJobPdfApi.as_view(), name="api-report-job-pdf"),
]
