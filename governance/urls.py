from django.urls import path

from governance import views

app_name = "governance"

urlpatterns = [
    path("inventory/", views.inventory, name="inventory"),
    path("inventory/export.csv", views.inventory_export, {"fmt": "csv"}, name="inventory_csv"),
    path("inventory/export.xlsx", views.inventory_export, {"fmt": "xlsx"}, name="inventory_xlsx"),
    path("inventory/<slug:slug>/edit/", views.inventory_edit, name="inventory_edit"),
    path("groups/<slug:slug>/history/", views.group_history, name="group_history"),
    path(
        "models/<slug:slug>/versions/<str:version>/report/",
        views.version_report,
        name="version_report",
    ),
    path(
        "models/<slug:slug>/versions/<str:version>/report.pdf",
        views.version_report_pdf,
        name="version_report_pdf",
    ),
    path(
        "models/<slug:slug>/versions/<str:version>/report/jobs/",
        views.report_job_create,
        name="report_job_create",
    ),
    path("reports/<int:job_id>/", views.report_job, name="report_job"),
    path("reports/<int:job_id>/pdf", views.report_job_pdf, name="report_job_pdf"),
]
