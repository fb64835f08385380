from django.urls import path

from monitoring import views

app_name = "monitoring"

urlpatterns = [
    path("groups/<slug:slug>/monitoring/", views.group_monitoring, name="group_monitoring"),
    path(
        "groups/<slug:slug>/monitoring/run/",
        views.group_monitoring_run,
        name="group_monitoring_run",
    ),
    path(
        "groups/<slug:slug>/monitoring/rules/",
        views.alert_rule_create_view,
        name="alert_rule_create",
    ),
    path(
        "groups/<slug:slug>/monitoring/reference/",
        views.reference_from_window_view,
        name="reference_from_window",
    ),
    path(
        "monitoring/alerts/<int:pk>/acknowledge/",
        views.alert_acknowledge_view,
        name="alert_acknowledge",
    ),
    path(
        "models/<slug:slug>/versions/<str:version>/monitoring/",
        views.version_monitoring,
        name="version_monitoring",
    ),
]
