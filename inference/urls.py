from django.urls import path

from inference import views

app_name = "inference"

urlpatterns: list = [
    # analytics pages (Comparative View, inference browser, live metrics)
    path("groups/<slug:slug>/compare/", views.group_compare, name="group_compare"),
    path("groups/<slug:slug>/inferences/", views.group_inferences, name="group_inferences"),
    path(
        "groups/<slug:slug>/inferences/export.csv",
        views.group_inferences_export,
        name="group_inferences_export",
    ),
    path(
        "groups/<slug:slug>/inferences/<uuid:request_id>/",
        views.inference_detail,
        name="inference_detail",
    ),
    path("versions/<int:version_id>/live/", views.version_live, name="version_live"),
]
