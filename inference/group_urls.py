"""A group's analytics tabs, under the group: /groups/<slug>/compare/ and
/groups/<slug>/inferences/ (included by inference/urls.py, ahead of groups.urls)."""

from django.urls import path

from inference import views

urlpatterns: list = [
    path("<slug:slug>/compare/", views.group_compare, name="group_compare"),
    path("<slug:slug>/inferences/", views.group_inferences, name="group_inferences"),
    path(
        "<slug:slug>/inferences/export.csv",
        views.group_inferences_export,
        name="group_inferences_export",
    ),
    path(
        "<slug:slug>/inferences/<uuid:request_id>/",
        views.inference_detail,
        name="inference_detail",
    ),
]
