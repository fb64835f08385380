from django.urls import path

from registry import import_views, views

app_name = "registry"

urlpatterns = [
    path("", views.model_list, name="model_list"),
    path("import/", import_views.model_import, name="model_import"),
    path("import/confirm/", import_views.model_import_confirm, name="model_import_confirm"),
    path("upload/", views.version_upload, name="version_upload"),
    path("<slug:slug>/", views.model_detail, name="model_detail"),
    path("<slug:slug>/versions/<str:version>/", views.version_detail, name="version_detail"),
    path(
        "<slug:slug>/versions/<str:version>/status/",
        views.version_transition,
        name="version_transition",
    ),
]
